"""Run-time interventions through the tap: exact where they should change nothing, exact
where they should reproduce another input, and nothing left on the model afterwards."""

import pytest
import torch

from synthcircuits.errors import UserError
from synthcircuits.models import build_model
from synthcircuits.models.capture import capture
from synthcircuits.causal import Intervention, run_with_interventions


@pytest.fixture(scope="module")
def model():
    return build_model("inceptionv1", seed=0)


@pytest.fixture(scope="module")
def images():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(2, 3, 96, 96, generator=generator), torch.rand(2, 3, 96, 96, generator=generator)


def test_patching_a_point_with_its_own_value_changes_nothing(model, images):
    a, _ = images
    clean = capture(model, a, ["mixed3a", "mixed3b", "softmax2"])
    patched = run_with_interventions(model, a, [Intervention.patch("mixed3a", clean["mixed3a"])], ["mixed3b", "softmax2"])
    assert torch.equal(patched["mixed3b"], clean["mixed3b"]) and torch.equal(patched["softmax2"], clean["softmax2"])
    scaled = run_with_interventions(model, a, [Intervention("mixed3a", "scale", value=1.0)], ["softmax2"])
    assert torch.equal(scaled["softmax2"], clean["softmax2"])


def test_patching_a_whole_layer_from_a_into_b_reproduces_a_downstream(model, images):
    a, b = images
    source = capture(model, a, ["mixed3a", "mixed3b", "softmax2"])
    patched = run_with_interventions(model, b, [Intervention.patch("mixed3a", source["mixed3a"])], ["mixed3b", "softmax2"])
    torch.testing.assert_close(patched["mixed3b"], source["mixed3b"], rtol=0, atol=1e-5)
    torch.testing.assert_close(patched["softmax2"], source["softmax2"], rtol=0, atol=1e-6)
    assert not torch.allclose(capture(model, b, ["softmax2"])["softmax2"], source["softmax2"])


def test_a_unit_at_one_position_changes_only_what_sees_it(model, images):
    a, _ = images
    clean = capture(model, a, ["mixed3a", "mixed3b"])
    hit = run_with_interventions(model, a, [Intervention("mixed3a", "set", channels=(5,), positions=((2, 2),), value=100.0)],
                                 ["mixed3a", "mixed3b"])
    changed = (hit["mixed3a"] != clean["mixed3a"]).nonzero().tolist()
    assert {(c, y, x) for _, c, y, x in changed} == {(5, 2, 2)}
    moved = (hit["mixed3b"] - clean["mixed3b"]).abs().amax((0, 1)) > 0
    ys, xs = moved.nonzero(as_tuple=True)
    assert moved.any() and ys.min() >= 0 and ys.max() <= 4 and xs.max() <= 4  # mixed3b's 5x5 branch reaches 2 positions


def test_pre_activation_interventions_flow_through_the_relu(model, images):
    a, _ = images
    out = run_with_interventions(model, a, [Intervention("conv2d2_pre_relu", "set", channels=(0, 1), value=-3.0),
                                            Intervention("conv2d2_pre_relu", "clamp", value=0.5)], ["conv2d2"])
    assert torch.equal(out["conv2d2"][:, :2], torch.zeros_like(out["conv2d2"][:, :2]))
    assert float(out["conv2d2"].max()) <= 0.5


def test_nothing_is_left_on_the_model(model, images):
    a, _ = images
    before = capture(model, a, ["softmax2"])["softmax2"]
    run_with_interventions(model, a, [Intervention("mixed3b", "zero")], ["softmax2"])
    assert torch.equal(capture(model, a, ["softmax2"])["softmax2"], before)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_mean_ablation_uses_one_value_per_channel(model, images):
    a, b = images
    means = capture(model, b, ["mixed3a"])["mixed3a"].mean((0, 2, 3))
    out = run_with_interventions(model, a, [Intervention("mixed3a", "mean", channels=(3,), value=means)], ["mixed3a"])
    assert torch.allclose(out["mixed3a"][:, 3], means[3].expand_as(out["mixed3a"][:, 3]))


def test_bad_interventions_say_what_to_fix(model, images):
    a, _ = images
    with pytest.raises(UserError, match="concatenation made for reading"):
        run_with_interventions(model, a, [Intervention("mixed3b_pre_relu", "zero")], ["softmax2"])
    with pytest.raises(UserError, match="no channel 999"):
        run_with_interventions(model, a, [Intervention("mixed3a", "zero", channels=(999,))], ["mixed3b"])
    with pytest.raises(UserError, match="unknown intervention"):
        Intervention("mixed3a", "explode")
    with pytest.raises(UserError, match="source has shape"):
        run_with_interventions(model, a, [Intervention.patch("mixed3a", torch.zeros(1, 3, 4, 4))], ["mixed3b"])
    with pytest.raises(UserError, match="unknown layer name"):
        run_with_interventions(model, a, [Intervention("nowhere", "zero")], ["mixed3b"])
