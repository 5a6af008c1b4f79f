import pickle

import pytest
import torch

from synthcircuits.errors import WeightsError
from synthcircuits.models import build_model, content_hash, load_model, read_weights, save_safetensors, save_torch
from synthcircuits.models.zoo import detect_architecture, model_from_state_dict


def test_lucent_format_and_safetensors_load_back_bit_identically(random_inceptionv1, lucent_weights_file, safetensors_weights_file):
    original = random_inceptionv1.state_dict()
    for path in (lucent_weights_file, safetensors_weights_file):
        loaded = load_model(path).state_dict()
        assert loaded.keys() == original.keys()
        assert all(torch.equal(loaded[k], original[k]) for k in original)
        assert content_hash(read_weights(path).tensors) == content_hash(original)


def test_lucent_state_dict_has_116_tensors_and_7066380_parameters(lucent_weights_file):
    weights = read_weights(lucent_weights_file)
    assert len(weights.tensors) == 116 and weights.parameter_count == 7_066_380
    assert detect_architecture(weights.tensors) == "inceptionv1"


def _broken(state, how):
    state = dict(state)
    if how == "missing":
        del state["mixed3b_5x5_pre_relu_conv.weight"]
    elif how == "renamed":
        state["mixed3b_5x5_conv.weight"] = state.pop("mixed3b_5x5_pre_relu_conv.weight")
    elif how == "misshaped":
        state["mixed3b_5x5_pre_relu_conv.weight"] = torch.zeros(96, 32, 3, 3)
    return state


@pytest.mark.parametrize(
    "how, expected",
    [
        ("missing", ["missing     mixed3b_5x5_pre_relu_conv.weight [96, 32, 5, 5]"]),
        ("renamed", ["missing     mixed3b_5x5_pre_relu_conv.weight", "unexpected  mixed3b_5x5_conv.weight [96, 32, 5, 5]"]),
        ("misshaped", ["mis-shaped  mixed3b_5x5_pre_relu_conv.weight is [96, 32, 3, 3], expected [96, 32, 5, 5]"]),
    ],
)
def test_strict_loading_lists_each_bad_tensor(random_inceptionv1, tmp_path, how, expected):
    path = save_safetensors(_broken(random_inceptionv1.state_dict(), how), tmp_path / "broken.safetensors")
    with pytest.raises(WeightsError) as info:
        load_model(path, "inceptionv1")
    message = str(info.value)
    assert str(path) in message
    for line in expected:
        assert line in message
    # Also when the architecture is left to detection.
    with pytest.raises(WeightsError, match="fits none of the known architectures; the closest is inceptionv1"):
        load_model(path)


class NotTensors:
    def __reduce__(self):  # what a malicious pickle would do on load
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_objects_that_are_not_tensors_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv2d0_pre_relu_conv.weight": NotTensors()}, f)
    with pytest.raises(WeightsError, match="refused to load"):
        read_weights(path)
    assert "this must never run" not in capsys.readouterr().out


def test_non_tensor_entries_are_named(tmp_path):
    path = tmp_path / "mixed.pt"
    torch.save({"a": torch.zeros(1), "epoch": 3}, path)
    with pytest.raises(WeightsError, match="'epoch' \\(int\\)"):
        read_weights(path)


def test_torchvision_state_dict_with_aux_heads_loads(tmp_path):
    import torchvision

    tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    path = save_torch(tv.state_dict(), tmp_path / "googlenet.pth")
    model = load_model(path)
    assert type(model).__name__ == "TorchvisionGoogLeNet"
    assert torch.equal(model.state_dict()["fc.weight"], tv.state_dict()["fc.weight"])


def test_failed_save_leaves_no_file(tmp_path):
    target = tmp_path / "out.safetensors"
    with pytest.raises(Exception):
        save_safetensors({"a": torch.zeros(2)}, target, metadata={"bad": 3})  # metadata must be strings
    assert list(tmp_path.iterdir()) == []


def test_model_from_state_dict_rejects_other_architecture():
    tv_state = build_model("torchvision_googlenet").state_dict()
    with pytest.raises(WeightsError, match="missing     conv2d0_pre_relu_conv.weight"):
        model_from_state_dict(tv_state, "inceptionv1")
