import pytest
import torch
import torch.nn.functional as F
import torchvision

from synthcircuits.errors import UserError
from synthcircuits.models import build_model, capture
from synthcircuits.layout.architectures import INCEPTIONV1_BLOCKS


def reference_forward(state, x):
    """The forward pass as shared/reference/inceptionv1.md writes it, on raw tensors (an independent oracle)."""

    def conv(name, h, pad=0):
        return F.conv2d(h, state[f"{name}_pre_relu_conv.weight"], state[f"{name}_pre_relu_conv.bias"], padding=pad)

    def pool_s2(h):
        return F.max_pool2d(F.pad(h, (0, 1, 0, 1), value=float("-inf")), 3, 2)

    def lrn(h):
        return F.local_response_norm(h, size=9, alpha=9.99999974738e-05, beta=0.5, k=1)

    out = {}
    h = x * 255 - 117
    h = F.relu(F.conv2d(F.pad(h, (2, 3, 2, 3)), state["conv2d0_pre_relu_conv.weight"], state["conv2d0_pre_relu_conv.bias"], stride=2))
    out["conv2d0"] = h
    h = lrn(pool_s2(h))
    h = F.relu(conv("conv2d1", h))
    h = F.relu(conv("conv2d2", F.pad(h, (1, 1, 1, 1))))
    out["conv2d2"] = h
    h = pool_s2(lrn(h))
    for name in INCEPTIONV1_BLOCKS:
        if name in ("mixed4a", "mixed5a"):
            h = pool_s2(h)
        b1 = F.relu(conv(f"{name}_1x1", h))
        b3 = F.relu(conv(f"{name}_3x3", F.pad(F.relu(conv(f"{name}_3x3_bottleneck", h)), (1, 1, 1, 1))))
        b5 = F.relu(conv(f"{name}_5x5", F.pad(F.relu(conv(f"{name}_5x5_bottleneck", h)), (2, 2, 2, 2))))
        bp = F.relu(conv(f"{name}_pool_reduce", F.max_pool2d(F.pad(h, (1, 1, 1, 1), value=float("-inf")), 3, 1)))
        h = torch.cat([b1, b3, b5, bp], 1)
        out[name] = h
    h = F.avg_pool2d(h, 7, 1).reshape(-1, 1024)
    logits = F.linear(h, state["softmax2_pre_activation_matmul.weight"], state["softmax2_pre_activation_matmul.bias"])
    out["softmax2"] = F.softmax(logits, 1)
    return out


def test_forward_matches_the_reference_forward_pass(random_inceptionv1, images):
    state = random_inceptionv1.state_dict()
    with torch.no_grad():
        expected = reference_forward(state, images)
    got = capture(random_inceptionv1, images, list(expected))
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5 * float(expected[name].abs().max()))


@pytest.mark.parametrize("layer", ["conv2d0", "conv2d2", "mixed3a", "mixed3b", "mixed4c", "mixed3b_5x5", "mixed3b_pre_relu"])
def test_truncated_capture_equals_the_same_layer_from_a_full_forward(random_inceptionv1, images, layer):
    truncated = capture(random_inceptionv1, images, [layer])[layer]
    full = capture(random_inceptionv1, images, [layer, "softmax2"])[layer]
    assert torch.equal(truncated, full)


def test_capture_does_not_run_layers_after_the_deepest_requested(images):
    model = build_model("inceptionv1", seed=0)

    def boom(*args):
        raise AssertionError("mixed4a ran although only mixed3b was asked for")

    model.mixed4a_1x1_pre_relu_conv.forward = boom
    assert capture(model, images, ["mixed3b"])["mixed3b"].shape == (2, 480, 28, 28)
    with pytest.raises(AssertionError, match="mixed4a ran"):
        capture(model, images, ["mixed4a"])


def test_pre_relu_capture_gives_values_whose_relu_is_the_layer(random_inceptionv1, images):
    acts = capture(random_inceptionv1, images, ["conv2d2", "mixed3b"], pre_relu=True)
    for layer in ("conv2d2", "mixed3b"):
        assert (acts[f"{layer}_pre_relu"] < 0).any()
        assert torch.equal(F.relu(acts[f"{layer}_pre_relu"]), acts[layer])


def test_branch_hook_points_are_slices_of_the_block_output(random_inceptionv1, images):
    acts = capture(random_inceptionv1, images, ["mixed3b", "mixed3b_5x5"])
    assert torch.equal(acts["mixed3b"][:, 320:416], acts["mixed3b_5x5"])


def test_unknown_layer_names_are_a_user_error(random_inceptionv1, images):
    with pytest.raises(UserError, match="unknown layer name\\(s\\): mixed9"):
        capture(random_inceptionv1, images, ["mixed9"])


def test_torchvision_googlenet_adapter_matches_torchvision(images):
    model = build_model("torchvision_googlenet", seed=3)
    reference = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False, transform_input=True).eval()
    reference.load_state_dict(model.state_dict())
    normalised = torchvision.transforms.functional.normalize(images, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        torch.testing.assert_close(model(images), reference(normalised), rtol=1e-4, atol=1e-4)
    acts = capture(model, images, ["inception4c", "inception4c_5x5"])
    assert acts["inception4c"].shape == (2, 512, 14, 14)
    assert torch.equal(acts["inception4c"][:, 384:448], acts["inception4c_5x5"])
