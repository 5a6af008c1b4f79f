"""Attribution: integrated gradients are complete and memory-bounded; on the compiled curve
circuit they land on the early curves the spec wires in."""

from pathlib import Path

import pytest
import torch

from synthcircuits.causal.attribution import Target, gradient_times_activation, integrated_gradients
from synthcircuits.commands.common import open_model
from synthcircuits.compile import compile_spec
from synthcircuits.errors import UserError
from synthcircuits.models import build_model
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep, angle_difference, radial_tuning
from synthcircuits.language import load_spec
from synthcircuits.viz.weight_diagram import incoming_kernels

SPEC = Path(__file__).parent.parent / "specs" / "curve_circuit.yaml"


@pytest.fixture(scope="module")
def model():
    return build_model("inceptionv1", seed=0)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))


def firing_channel(model, images, layer):
    from synthcircuits.models.capture import capture

    acts = capture(model, images, [layer])[layer]
    centre = acts[:, :, acts.shape[-2] // 2, acts.shape[-1] // 2]
    return int(centre.min(0).values.argmax())


def test_integrated_gradients_are_complete(model, images):
    target = Target("mixed3b", firing_channel(model, images, "mixed3b"))
    result = integrated_gradients(model, images, target, "mixed3a", steps=64, chunk=16)
    assert (result.target_input > 0).all()
    assert float(result.completeness_gap.max()) < 0.01, result.completeness_gap
    assert result.values.shape[1:] == (256, 8, 8) and result.per_channel.shape == (2, 256)


def test_integrated_gradients_run_in_chunks_whatever_the_steps(model, images, monkeypatch):
    target = Target("mixed3b", firing_channel(model, images, "mixed3b"))
    batches = []
    real = model.preprocess
    monkeypatch.setattr(model, "preprocess", lambda x: batches.append(len(x)) or real(x))
    few = integrated_gradients(model, images, target, "mixed3a", steps=8, chunk=4)
    many_batches = len(batches)
    chunked = integrated_gradients(model, images, target, "mixed3a", steps=8, chunk=3)
    assert max(batches) <= 4 * len(images) and len(batches) > many_batches
    torch.testing.assert_close(chunked.values, few.values, rtol=1e-4, atol=1e-5)


def test_gradient_times_activation_is_the_one_step_estimate(model, images):
    target = Target("mixed3b", firing_channel(model, images, "mixed3b"))
    first_order = gradient_times_activation(model, images, target, "mixed3a")
    complete = integrated_gradients(model, images, target, "mixed3a", steps=32)
    assert first_order.values.shape == complete.values.shape
    correlation = torch.corrcoef(torch.stack([first_order.values.flatten(), complete.values.flatten()]))[0, 1]
    assert correlation > 0.5


def test_attribution_refuses_a_later_layer(model, images):
    with pytest.raises(UserError, match="does not come before"):
        integrated_gradients(model, images, Target("mixed3a", 0), "mixed3b")


@pytest.mark.parametrize("which", [0, 2])
def test_a_curve_on_its_preferred_arc_is_explained_by_the_early_curves_wired_to_it(which):
    source = open_model(SPEC)
    build = compile_spec(load_spec(SPEC), "inceptionv1")
    geometry = source.model.geometry()
    unit = [u for u in build.units if u.layer == "mixed3b"][which]
    sweep = RadialSweep(step=10)
    (curve,) = radial_tuning(source.model, [ProbeUnit(str(unit.address), "mixed3b", unit.address.channel)], sweep)
    stimulus = sweep.render("mixed3b", geometry)(torch.tensor([curve.peak_angle]))
    centre = geometry.centre_position("mixed3b", sweep.size)
    result = integrated_gradients(source.model, stimulus, Target("mixed3b", unit.address.channel, (centre, centre)), "mixed3a", steps=32)
    assert float(result.completeness_gap[0]) < 0.02
    early = {u.address.channel: u for u in build.units if u.layer == "mixed3a"}
    wired = {k.name: float(k.weights.sum()) for k in incoming_kernels(source, unit.address)}
    strongest = {int(name.split(":")[1]) for name in sorted(wired, key=lambda n: -wired[n])[:6]}
    top = result.per_channel[0].argsort(descending=True)[:3].tolist()
    assert set(top) <= strongest, (top, strongest)
    assert all(angle_difference(early[c].orientation, unit.orientation) <= 45 for c in top)
    share = float(result.per_channel[0, list(early)].clamp_min(0).sum() / result.per_channel[0].clamp_min(0).sum())
    assert share > 0.9
