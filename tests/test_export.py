import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from synthcircuits.cli import main
from synthcircuits.edit import apply_edits, edited_model, load_edit
from synthcircuits.export import ParityError, export_onnx, read_metadata
from synthcircuits.models import capture, content_hash, read_weights

ROOT = Path(__file__).parent.parent


def run_onnx(path, images):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": images.numpy()})


def test_exported_inceptionv1_matches_torch_at_any_batch_and_keeps_its_metadata(lucent_weights_file, random_inceptionv1, tmp_path):
    out = tmp_path / "model.onnx"
    assert main(["export", str(lucent_weights_file), "-o", str(out), "--outputs", "mixed3b,softmax2"]) == 0
    for batch in (1, 3):
        images = torch.rand(batch, 3, 224, 224)
        mixed3b, probs = run_onnx(out, images)
        expected = capture(random_inceptionv1, images, ["mixed3b", "softmax2"])
        assert mixed3b.shape == (batch, 480, 28, 28) and probs.shape == (batch, 1008)
        np.testing.assert_allclose(probs, expected["softmax2"].numpy(), atol=1e-5)
    meta = read_metadata(out)
    assert meta["synthcircuits.version"] and meta["synthcircuits.weights_hash"] == content_hash(read_weights(lucent_weights_file).tensors)


@pytest.mark.parametrize("edit_name", ["curves_removed.yaml", "curves_substituted.yaml", "car_without_windows.yaml"])
def test_exported_edited_models_pass_parity_and_record_the_edit(lucent_weights_file, tmp_path, edit_name):
    out = tmp_path / "edited.onnx"
    edit = ROOT / "specs" / "edits" / edit_name
    assert main(["export", str(lucent_weights_file), "--edits", str(edit), "-o", str(out)]) == 0
    meta = read_metadata(out)
    assert meta["synthcircuits.edit_hash"] == load_edit(edit).content_hash and json.loads(meta["synthcircuits.edit_log"])
    weights = read_weights(lucent_weights_file).tensors
    model = edited_model(apply_edits(weights, load_edit(edit)))
    images = torch.rand(2, 3, 224, 224)
    (probs,) = run_onnx(out, images)
    np.testing.assert_allclose(probs, capture(model, images, ["softmax2"])["softmax2"].numpy(), atol=1e-5)


def test_exported_spec_carries_its_hash_and_unit_map(tmp_path):
    out = tmp_path / "circuit.onnx"
    assert main(["export", str(ROOT / "specs" / "small_curves.yaml"), "--target", "compact", "-o", str(out), "--outputs", "conv2d2,mixed3a"]) == 0
    meta = read_metadata(out)
    from synthcircuits.language import load_spec

    assert meta["synthcircuits.spec_hash"] == load_spec(ROOT / "specs" / "small_curves.yaml").content_hash
    assert len(json.loads(meta["synthcircuits.units"])) == 72
    conv2d2, mixed3a = run_onnx(out, torch.rand(2, 3, 224, 224))
    assert conv2d2.shape == (2, 16, 56, 56) and mixed3a.shape == (2, 8, 28, 28)


def test_a_failed_parity_check_writes_nothing(random_inceptionv1, tmp_path):
    out = tmp_path / "model.onnx"
    with pytest.raises(ParityError, match="nothing was written"):
        export_onnx(random_inceptionv1, out, ["mixed3a"], tolerance=-1.0)
    assert list(tmp_path.iterdir()) == []


def test_export_of_an_unknown_layer_exits_2(lucent_weights_file, tmp_path):
    out = tmp_path / "model.onnx"
    result = subprocess.run([sys.executable, "-m", "synthcircuits.cli", "export", str(lucent_weights_file), "-o", str(out), "--outputs", "mixed9"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unknown layer name(s): mixed9" in result.stderr and not out.exists()
