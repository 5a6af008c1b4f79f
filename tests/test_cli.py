import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.models import capture


def run_cli(*args):
    """The real command in a subprocess, to see exit status, stdout and stderr as a user does."""
    return subprocess.run([sys.executable, "-m", "synthcircuits.cli", *map(str, args)], capture_output=True, text=True)


def test_probe_writes_one_array_per_layer_from_png_and_npy(random_inceptionv1, lucent_weights_file, images, tmp_path):
    npy = tmp_path / "batch.npy"
    np.save(npy, images.numpy())
    png = tmp_path / "a.png"
    Image.fromarray((images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(png)
    out = tmp_path / "acts.npz"
    assert main(["probe", "--weights", str(lucent_weights_file), "--layers", "conv2d0,mixed3b", "--input", str(npy), "-o", str(out)]) == 0
    saved = np.load(out)
    expected = capture(random_inceptionv1, images, ["conv2d0", "mixed3b"])
    assert sorted(saved.files) == ["conv2d0", "mixed3b"]
    np.testing.assert_allclose(saved["mixed3b"], expected["mixed3b"].numpy(), rtol=1e-5, atol=1e-4)
    assert main(["probe", "--weights", str(lucent_weights_file), "--layers", "conv2d1", "--input", str(png), "-o", str(out)]) == 0
    assert np.load(out)["conv2d1"].shape == (1, 64, 56, 56)


def _out_of_range_npy(folder):
    np.save(folder / "x.npy", np.full((1, 3, 64, 64), 255.0, dtype=np.float32))
    return folder / "x.npy"


def _not_an_image(folder):
    (folder / "x.png").write_text("not an image")
    return folder / "x.png"


@pytest.mark.parametrize(
    "make_input, message",
    [
        (_out_of_range_npy, "outside [0, 1]"),
        (_not_an_image, "not a readable image"),
        (lambda folder: folder / "missing.png", "no such image file"),
    ],
)
def test_probe_bad_input_exits_2_with_a_message_and_writes_nothing(lucent_weights_file, tmp_path, make_input, message):
    path = make_input(tmp_path)
    out = tmp_path / "acts.npz"
    result = run_cli("probe", "--weights", lucent_weights_file, "--layers", "conv2d0", "--input", path, "-o", out)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_probe_unknown_layer_and_missing_weights_exit_2(lucent_weights_file, tmp_path):
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((1, 3, 32, 32), dtype=np.float32))
    result = run_cli("probe", "--weights", lucent_weights_file, "--layers", "mixed9", "--input", npy, "-o", tmp_path / "o.npz")
    assert result.returncode == 2 and "unknown layer name(s): mixed9" in result.stderr
    result = run_cli("probe", "--weights", tmp_path / "nope.pth", "--layers", "conv2d0", "--input", npy, "-o", tmp_path / "o.npz")
    assert result.returncode == 2 and "no such weights file" in result.stderr and "Traceback" not in result.stderr


def test_device_cuda_without_a_gpu_is_a_clear_error(lucent_weights_file, tmp_path):
    if torch.cuda.is_available():
        pytest.xfail("this machine has a GPU; the error path is for machines without one")
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((1, 3, 32, 32), dtype=np.float32))
    result = run_cli("probe", "--weights", lucent_weights_file, "--layers", "conv2d0", "--input", npy, "-o", tmp_path / "o.npz", "--device", "cuda")
    assert result.returncode == 2 and "no CUDA GPU" in result.stderr


def test_weights_info_prints_format_architecture_counts_and_hash(lucent_weights_file, capsys):
    from synthcircuits.models import content_hash, read_weights

    assert main(["weights", "info", str(lucent_weights_file)]) == 0
    out = capsys.readouterr().out
    for text in ("torch", "inceptionv1", "116", "7,066,380", content_hash(read_weights(lucent_weights_file).tensors)):
        assert text in out


def test_weights_fetch_offline_exits_2_with_instructions(tmp_path):
    result = run_cli("weights", "fetch", "--url", "http://127.0.0.1:9/inception5h.pth", "-o", tmp_path / "w.pth", "--timeout", "3")
    assert result.returncode == 2
    assert "could not download" in result.stderr and "--weights FILE" in result.stderr
    assert not (tmp_path / "w.pth").exists()


def test_demo_builds_verifies_and_compares_the_curve_circuit(tmp_path, capsys):
    assert main(["demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("curve-circuit.safetensors", "units.json", "curves_rotated.png"):
        assert (tmp_path / name).is_file()
    summary = [line for line in out.splitlines() if line.startswith(("curves ", "early curves "))]
    assert len(summary) == 9 and all(line.rstrip().endswith("pass") for line in summary)
    # The sanity rows: with B's stimuli turned 45 degrees, 3b:379 (243 deg) is best matched by 3b:385 (290 deg).
    assert any(line.startswith("mixed3b:379") and "mixed3b:385" in line for line in out.splitlines())
