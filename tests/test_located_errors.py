"""What a build's file says it is, and errors that name the line or file at fault: each for its
kind (every spec type, every weightless layer kind), not only the case that was reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.commands.common import open_model
from synthcircuits.models import build_model, read_weights, save_safetensors
from synthcircuits.models.zoo import ARCHITECTURE_KEY, fit

SHIPPED = Path(__file__).resolve().parents[1] / "specs" / "curve_circuit.yaml"

CURVE = """\
  - name: curve
    layer: {block_b}
    units: [{block_b}:379]
    orientations: [243]
    period: 360
    bias: 0.5
    inputs:
      - from: kept
        along_arc: {{radius: 2}}
        tuning: {{excite: 1, width_deg: 40}}
"""


def patch_spec(tmp_path, architecture: str, target: str) -> str:
    """A base patch on random weights of `architecture`, as `decompile` drafts them."""
    block_a, block_b = ("mixed3a", "mixed3b") if architecture == "inceptionv1" else ("inception_3a", "inception_3b")
    base = save_safetensors(build_model(architecture, seed=4).state_dict(), tmp_path / f"{architecture}.safetensors")
    head = (f"synthcircuits: 1\nname: p\narchitecture: {architecture}\n"
            f"base: {base}\nbottleneck_channels: {{{block_b}_5x5: [30, 31]}}\n")
    kept = f"  - {{name: kept, layer: {block_a}, keep: true, units: [{block_a}:147, {block_a}:189], orientations: [222.5, 267.5], period: 360}}\n"
    return head + "families:\n" + kept + CURVE.format(block_b=block_b)


@pytest.mark.parametrize("architecture, target, declared", [
    ("inceptionv1", "inceptionv1", "inceptionv1"), ("bvlc_googlenet", "inceptionv1", "bvlc_googlenet"), ("shipped", "compact", "compact")])
def test_a_build_declares_what_its_tensors_are_and_opens_as_that(tmp_path, architecture, target, declared):
    if architecture == "shipped":
        spec = SHIPPED
    else:
        spec = tmp_path / "spec.yaml"
        spec.write_text(patch_spec(tmp_path, architecture, target))
    out = tmp_path / "built.safetensors"
    assert main(["build", str(spec), "-o", str(out), "--target", target]) == 0
    weights = read_weights(out)
    assert weights.metadata[ARCHITECTURE_KEY] == declared
    opened = open_model(out)  # what every command does with the file first
    if declared == "compact":
        assert opened.compact
    else:
        assert fit(weights.tensors, declared).exact and opened.architecture.name == declared


@pytest.mark.parametrize("kind", ["edit", "patch"])
def test_a_spec_whose_architecture_disagrees_with_the_weights_is_named_at_its_architecture_line(tmp_path, capsys, kind):
    bvlc = save_safetensors(build_model("bvlc_googlenet", seed=0).state_dict(), tmp_path / "bvlc.safetensors")
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (32, 32), "white").save(images / "a.png")
    spec = tmp_path / f"{kind}.yaml"
    if kind == "edit":
        spec.write_text("synthcircuits_edit: 1\nname: e\narchitecture: inceptionv1\nedits:\n  - ablate: {units: [3b:380]}\n")
        argv = ["edit", str(spec), "--weights", str(bvlc)]
    else:
        spec.write_text("synthcircuits_patch: 1\nname: p\narchitecture: inceptionv1\ninterventions:\n  - zero: {units: [mixed3a:1]}\n")
        argv = ["patch", str(spec), "--weights", str(bvlc), "--images", str(images), "-o", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{spec}:3:1: this spec's architecture says inceptionv1, but {bvlc} holds bvlc_googlenet weights" in err
    assert "architecture: bvlc_googlenet" in err and "Traceback" not in err


@pytest.mark.parametrize("op", ["ablate: {units: [3b:380, UNIT], mode: activation}", "clamp: {units: [UNIT], value: 1}",
                                "scale: {units: [UNIT], factor: 2}"])
@pytest.mark.parametrize("unit", ["maxpool4:3", "localresponsenorm1:0", "softmax2:5"])
def test_an_edit_that_rewrites_a_weightless_unit_is_refused_at_the_unit(tmp_path, capsys, safetensors_weights_file, op, unit):
    spec = tmp_path / "e.yaml"
    spec.write_text(f"synthcircuits_edit: 1\nname: e\nedits:\n  - {op.replace('UNIT', unit)}\n")
    assert main(["edit", str(spec), "--weights", str(safetensors_weights_file)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:4:" in err and f"{unit} is a unit of {unit.split(':')[0]}" in err and "no weights of its own" in err
    assert main(["check-spec", str(spec)]) == 2  # validation alone finds it too
    capsys.readouterr()


def test_a_mean_ablate_folder_without_images_is_named_at_the_spec_line(tmp_path, capsys, safetensors_weights_file):
    (tmp_path / "empty").mkdir()
    spec = tmp_path / "e.yaml"
    spec.write_text("synthcircuits_edit: 1\nname: e\nedits:\n  - mean_ablate: {units: [3b:379], images: empty}\n")
    assert main(["edit", str(spec), "--weights", str(safetensors_weights_file)]) == 2
    err = capsys.readouterr().err
    assert f"{spec}:4:5: images: " in err and "no images found" in err


@pytest.mark.parametrize("layer", ["softmax2", "mixed3b"])
def test_an_image_too_small_for_the_layer_is_named(tmp_path, capsys, safetensors_weights_file, layer):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), "white").save(tiny)
    assert main(["probe", "--weights", str(safetensors_weights_file), "--input", str(tiny), "--layers", layer, "-o",
                 str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tiny}: images of 1x1 px are too small to reach {layer}") and not (tmp_path / "p.npz").exists()
