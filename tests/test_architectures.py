"""Every command on every built-in architecture (random weights saved in the real format and
loaded back through the CLI), the BVLC flows that used to break, and the house rules of the
layout floor (no torch, no cycles, tables that agree)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.models import build_model, capture, save_safetensors, weights_metadata
from synthcircuits.probe.crop_forward import crop_activations

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "curve_circuit.yaml"

# A conv (with its rows) and a layer to search, per architecture.
UNITS = {
    "inceptionv1": ("mixed3a:70", "mixed3a"),
    "bvlc_googlenet": ("inception_3a:70", "inception_3a"),
    "torchvision:alexnet": ("features.3:5", "features.3"),
    "torchvision:vgg16": ("features.10:5", "features.10"),
    "torchvision:resnet18": ("layer2.0.conv1:5", "layer2.0.conv1"),
    "torchvision:resnet50": ("layer2.0.conv2:5", "layer2.0.conv2"),
    "torchvision:googlenet": ("inception3a.branch2.1.conv:5", "inception3a.branch2.1.conv"),
    "torchvision:inception_v3": ("Mixed_5b.branch1x1.conv:5", "Mixed_5b.branch1x1.conv"),
    "torchvision:mobilenet_v2": ("features.4.conv.0:5", "features.4.conv.0"),
}
ARCHS = list(UNITS)


@pytest.fixture(scope="module")
def weights_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    files = {}
    for arch in ARCHS:
        model = build_model(arch, seed=3)
        files[arch] = save_safetensors(model.state_dict(), folder / f"{arch.replace(':', '_')}.safetensors", weights_metadata(model))
    return files


def run(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.mark.parametrize("arch", ARCHS)
def test_every_command_runs_on_every_architecture(arch, weights_files, tmp_path, capsys):
    weights = weights_files[arch]
    unit, layer = UNITS[arch]
    layer_of_unit = unit.rsplit(":", 1)[0]
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32))
    assert run("layers", "--arch", arch) == 0
    assert arch in capsys.readouterr().out
    assert run("weights", "info", weights) == 0
    assert re.search(rf"^architecture\s+{re.escape(arch)}\b", capsys.readouterr().out, re.M)
    assert run("probe", "--weights", weights, "--layers", layer_of_unit, "--input", tmp_path / "x.npy", "-o", tmp_path / "p.npz") == 0
    assert np.load(tmp_path / "p.npz")[layer_of_unit].shape[:2] == (2, int(build_model(arch).architecture.layer(layer_of_unit).channels))
    assert run("vis", unit, "--weights", weights, "-o", tmp_path / "v.png", "--steps", 2, "--size", 64) == 0
    assert Image.open(tmp_path / "v.png").size == (64, 64)
    # the batched path on this architecture: algebra, two objectives, receptive-field canvases
    assert run("vis", f"{unit} - 0.5*{unit}", f"channel({unit})", "--weights", weights, "--canvas", "receptive",
               "-o", tmp_path / "v2.png", "--steps", 2, "--size", 64) == 0
    assert Image.open(tmp_path / "v2.png").size[1] > 64
    assert run("weights", "diagram", unit, "--weights", weights, "-o", tmp_path / "d.png") == 0
    assert Image.open(tmp_path / "d.png").size[0] > 100
    assert run("tuning", weights, "--units", unit, "--step", 60, "-o", tmp_path / "t.png") == 0
    assert Image.open(tmp_path / "t.png").format == "PNG"
    assert run("compare", SPEC, weights, "--units", "mixed3b:379", "--layer-b", layer, "--step", 60, "-o", tmp_path / "cmp") == 0
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["units"][0]["best_match"].startswith(layer)
    edit = tmp_path / "e.yaml"
    edit.write_text(f"synthcircuits_edit: 1\nname: e\narchitecture: {arch}\nedits:\n  - ablate: {{units: [{unit}]}}\n"
                    f"  - scale: {{units: [{layer_of_unit}:6], factor: 0.5}}\n")
    assert run("edit", edit, "--weights", weights, "-o", tmp_path / "edited.safetensors") == 0
    edited = build_model(arch)  # the edited file loads back and the unit is silent
    assert run("probe", "--weights", tmp_path / "edited.safetensors", "--layers", layer_of_unit, "--input", tmp_path / "x.npy",
               "-o", tmp_path / "q.npz") == 0
    channel = int(unit.rsplit(":", 1)[1])
    assert np.abs(np.load(tmp_path / "q.npz")[layer_of_unit][:, channel]).max() == 0
    del edited
    assert run("export", weights, "--edits", edit, "--outputs", layer_of_unit, "-o", tmp_path / "m.onnx") == 0
    assert (tmp_path / "m.onnx").stat().st_size > 0
    assert run("report", weights, "--units", unit, "--steps", 2, "--size", 64, "-o", tmp_path / "report") == 0
    assert (tmp_path / "report" / "index.html").is_file()
    assert run("find", layer, "--weights", weights, "--limit", 3, "-o", tmp_path / "find") == 0
    found = json.loads((tmp_path / "find" / "find.json").read_text())
    assert found["architecture"] == arch and len(found["units"]) == build_model(arch).architecture.layer(layer).channels
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("arch", [a for a in ARCHS if ":" in a])
def test_receptive_field_crops_give_the_full_forward_numbers(arch):
    model = build_model(arch, seed=5)
    geometry = model.geometry()
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    layers = [l.name for l in model.architecture.layers if geometry.knows(l.name) and geometry.span(l.name).size < 150][::7][:6]
    assert layers, "no layer with a bounded receptive field"
    for layer in layers:
        p = geometry.centre_position(layer, 224)
        with torch.no_grad():
            full = capture(model, images, [layer])[layer][:, :4, p, p]
            cropped = crop_activations(model, images, layer, [0, 1, 2, 3], p)
        torch.testing.assert_close(cropped, full, rtol=1e-4, atol=1e-4 * float(full.abs().max().clamp(min=1)))


def test_traced_capture_runs_only_what_the_layer_needs():
    model = build_model("torchvision:resnet18", seed=0)
    calls = []
    model.layer3[0].conv1.register_forward_hook(lambda *a: calls.append("layer3"))  # a leaf: it runs only at run time
    capture(model, torch.rand(1, 3, 64, 64), ["layer2"])
    assert calls == []
    capture(model, torch.rand(1, 3, 64, 64), ["layer3"])
    assert calls == ["layer3"]


@pytest.mark.parametrize("which", ["generated", "trained"])
def test_the_readme_bvlc_commands_work_on_converted_weights(which, request, tmp_path, capsys):
    if which == "trained":
        weights = request.getfixturevalue("bvlc_weights")  # converted from the Caffe files where they exist
    else:
        model = build_model("bvlc_googlenet", seed=2)
        weights = save_safetensors(model.state_dict(), tmp_path / "bvlc.safetensors", weights_metadata(model))
    assert run("vis", "inception_3b:408", "--weights", weights, "-o", tmp_path / "v.png", "--steps", 2, "--size", 64) == 0
    assert run("weights", "diagram", "inception_3b:408", "--weights", weights, "-o", tmp_path / "d.png") == 0
    assert run("weights", "diagram", "mixed3b:408", "--weights", weights, "-o", tmp_path / "x.png") == 2
    err = capsys.readouterr().err
    assert "unknown layer 'mixed3b'" in err and "Traceback" not in err and not (tmp_path / "x.png").exists()
    edit = tmp_path / "e.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: e\narchitecture: bvlc_googlenet\nedits:\n  - ablate: {units: [inception_3b:408]}\n")
    assert run("export", weights, "--edits", edit, "-o", tmp_path / "m.onnx", "--outputs", "inception_3b") == 0


def test_find_lists_the_compiled_curve_units_with_the_numbers_compare_reports(tmp_path):
    weights = tmp_path / "curves.safetensors"
    assert run("build", SPEC, "-o", weights) == 0
    assert run("find", "mixed3b", "--weights", weights, "-o", tmp_path / "find") == 0
    found = json.loads((tmp_path / "find" / "find.json").read_text())
    members = {u["unit"]: u for u in found["units"] if u["member"]}
    designed = {"mixed3b:342", "mixed3b:388", "mixed3b:324", "mixed3b:340", "mixed3b:330", "mixed3b:349", "mixed3b:379",
                "mixed3b:406", "mixed3b:385", "mixed3b:343"}
    assert set(members) == designed and all(members[u]["branch"] == "5x5" for u in designed)
    assert run("compare", weights, weights, "--units", "mixed3b:379", "--step", 10, "-o", tmp_path / "cmp") == 0
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())["units"][0]
    assert members["mixed3b:379"]["preferred"] == pytest.approx(compared["preferred_a"], abs=1e-6)


def test_find_on_trained_bvlc_lists_curve_detectors_with_their_branch(bvlc_weights, tmp_path):
    assert run("find", "inception_3b", "--weights", bvlc_weights, "-o", tmp_path / "find") == 0
    members = [u for u in json.loads((tmp_path / "find" / "find.json").read_text())["units"] if u["member"]]
    assert len(members) >= 10
    assert {u["branch"] for u in members} <= {"1x1", "3x3", "5x5", "pool_reduce"}
    # The articles' branch specialisation: the 5x5 branch holds 20% of the channels but most curve units.
    assert sum(u["branch"] == "5x5" for u in members) > 0.5 * len(members)
    best = members[0]["unit"]
    assert run("compare", bvlc_weights, bvlc_weights, "--units", best, "--step", 10, "-o", tmp_path / "cmp") == 0
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())["units"][0]
    assert members[0]["preferred"] == pytest.approx(compared["preferred_a"], abs=1e-6)


def _imports_torch(module: str) -> bool:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_spec_and_layout_load_without_torch():
    assert not _imports_torch("synthcircuits.language")
    assert not _imports_torch("synthcircuits.layout")


def test_only_the_cli_imports_command_bodies():
    offenders = []
    for path in (ROOT / "synthcircuits").rglob("*.py"):
        if path.name == "cli.py" or "commands" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "commands" in node.module.split("."):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_edit_op_tables_agree_with_the_schema_and_the_readme():
    from synthcircuits.edit.apply import GOOGLENET_OPS, TRACED_OPS
    from synthcircuits.edit.spec import OPS

    assert set(GOOGLENET_OPS) == set(OPS)
    assert set(TRACED_OPS) <= set(OPS)
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{op}`" in readme for op in OPS)


def test_torchvision_googlenet_files_open_as_the_traced_network_for_weights(tmp_path, capsys):
    model = build_model("torchvision_googlenet", seed=2)
    weights = save_safetensors(model.state_dict(), tmp_path / "g.safetensors", weights_metadata(model))
    assert run("weights", "diagram", "inception3a:70", "--weights", weights, "-o", tmp_path / "d.png") == 2
    assert "--arch torchvision:googlenet" in capsys.readouterr().err and not (tmp_path / "d.png").exists()
    assert run("weights", "diagram", "inception3a.branch2.1.conv:7", "--weights", weights, "--arch", "torchvision:googlenet",
               "-o", tmp_path / "d.png") == 0


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    model = build_model("torchvision:resnet18", seed=4)
    return save_safetensors(model.state_dict(), tmp_path_factory.mktemp("r18") / "r18.safetensors", weights_metadata(model))


BAD_TRACED = {
    "find_on_a_vector": (["find", "fc", "-o", "{out}"], "no bounded receptive field"),
    "find_into_a_file": (["find", "layer2", "-o", "{weights}"], "is a file"),
    "diagram_of_the_pixel_conv": (["weights", "diagram", "conv1:3", "-o", "{out}/d.png"], "reads pixels"),
    "diagram_of_an_add": (["weights", "diagram", "layer1.0.add:3", "-o", "{out}/d.png"], "not computed by one conv"),
    "compare_with_a_vector": (["compare", str(SPEC), "{weights}", "--units", "mixed3b:379", "--layer-b", "fc", "-o", "{out}"],
                              "no bounded receptive field"),
    "tuning_of_a_global_pool": (["tuning", "{weights}", "--units", "avgpool:3", "-o", "{out}/t.png"], "no bounded receptive field"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRACED))
def test_bad_input_on_traced_networks_exits_2_with_one_message_and_writes_nothing(case, resnet18_file, tmp_path, capsys):
    args, message = BAD_TRACED[case]
    out = tmp_path / "out"
    argv = [a.format(out=out, weights=resnet18_file) for a in args]
    if "--weights" not in argv and argv[0] not in ("compare", "tuning"):
        argv += ["--weights", str(resnet18_file)]
    assert run(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_counts_refuse_negative_values(resnet18_file, capsys):
    assert main(["find", "layer2", "--weights", str(resnet18_file), "--limit", "-3"]) == 2
    assert "argument --limit: expected a whole number from 0" in capsys.readouterr().err


def test_traced_edits_refuse_googlenet_only_ops_and_foreign_donors_at_their_line(resnet18_file, tmp_path, capsys):
    edit = tmp_path / "e.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: e\narchitecture: torchvision:resnet18\nedits:\n"
                    "  - ablate_connection: {from: layer1.0.conv1:1, to: layer1.0.conv2:2}\n")
    assert run("edit", edit, "--weights", resnet18_file, "-o", tmp_path / "x.safetensors") == 2
    assert f"{edit}:5" in capsys.readouterr().err and not (tmp_path / "x.safetensors").exists()
    donor = build_model("torchvision:alexnet", seed=1)
    donor_file = save_safetensors(donor.state_dict(), tmp_path / "alexnet.safetensors", weights_metadata(donor))
    edit.write_text("synthcircuits_edit: 1\nname: e\narchitecture: torchvision:resnet18\nedits:\n"
                    f"  - transplant: {{weights: {donor_file}, units: [layer1.0.bn1:1]}}\n")
    assert run("edit", edit, "--weights", resnet18_file, "-o", tmp_path / "x.safetensors") == 2
    err = capsys.readouterr().err
    assert "holds torchvision:alexnet weights" in err and "Traceback" not in err


def test_traced_transplant_copies_the_units_rows_from_the_donor(resnet18_file, tmp_path):
    donor = build_model("torchvision:resnet18", seed=9)
    donor_file = save_safetensors(donor.state_dict(), tmp_path / "donor.safetensors", weights_metadata(donor))
    edit = tmp_path / "e.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: e\narchitecture: torchvision:resnet18\nedits:\n"
                    f"  - transplant: {{weights: {donor_file}, units: [layer1.0.relu:1]}}\n")
    assert run("edit", edit, "--weights", resnet18_file, "-o", tmp_path / "x.safetensors") == 0
    from synthcircuits.models import load_model

    edited = load_model(tmp_path / "x.safetensors").state_dict()
    for key in ("layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.running_mean"):
        torch.testing.assert_close(edited[key][1], donor.state_dict()[key][1])
    torch.testing.assert_close(edited["layer1.0.conv1.weight"][2], load_model(resnet18_file).state_dict()["layer1.0.conv1.weight"][2])


def test_lying_preprocessing_metadata_is_refused(tmp_path, capsys):
    model = build_model("torchvision:resnet18", seed=4)
    meta = {**weights_metadata(model), "synthcircuits.preprocessing": '{"mean": [0.5, 0.5], "std": [0, 1, 1]}'}
    weights = save_safetensors(model.state_dict(), tmp_path / "r.safetensors", meta)
    assert run("weights", "diagram", "layer1.0.conv1:1", "--weights", weights, "-o", tmp_path / "d.png") == 2
    assert "preprocessing metadata" in capsys.readouterr().err and not (tmp_path / "d.png").exists()


def test_traced_scale_and_clamp_give_the_addressed_point_its_new_value(resnet18_file):
    from synthcircuits.edit import apply_edits, edited_model, parse_edit
    from synthcircuits.models import load_model

    base = load_model(resnet18_file)
    edit = parse_edit("synthcircuits_edit: 1\nname: e\narchitecture: torchvision:resnet18\nedits:\n"
                      "  - clamp: {units: [layer1.0.bn1:1], value: 0.25}\n  - scale: {units: [layer1.1.relu:2], factor: 0.5}\n")
    edited = edited_model(apply_edits(base.state_dict(), edit))
    x = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        after = capture(edited, x, ["layer1.0.bn1", "layer1.1.relu"])
        before = capture(base, x, ["layer1.1.relu"])["layer1.1.relu"]
    assert torch.allclose(after["layer1.0.bn1"][:, 1], torch.full_like(after["layer1.0.bn1"][:, 1], 0.25))
    # layer1.1's input changed (the clamp upstream), so compare the scaled channel with its own unscaled neighbour rule:
    unscaled = edited_model(apply_edits(base.state_dict(), parse_edit(
        "synthcircuits_edit: 1\nname: e\narchitecture: torchvision:resnet18\nedits:\n  - clamp: {units: [layer1.0.bn1:1], value: 0.25}\n")))
    with torch.no_grad():
        reference = capture(unscaled, x, ["layer1.1.relu"])["layer1.1.relu"]
    torch.testing.assert_close(after["layer1.1.relu"][:, 2], 0.5 * reference[:, 2])
    assert not torch.equal(before[:, 2], after["layer1.1.relu"][:, 2])


def test_kernel_and_check_tables_agree_with_the_schema_and_the_readme():
    from synthcircuits.kernels.pixels import KERNEL_KINDS
    from synthcircuits.probe.checks import GROUP_EXPECTATIONS, UNIT_EXPECTATIONS
    from synthcircuits.language.schema import EXPECTATIONS, PIXEL_KERNELS

    assert set(KERNEL_KINDS) == set(PIXEL_KERNELS)
    assert set(UNIT_EXPECTATIONS) | set(GROUP_EXPECTATIONS) == set(EXPECTATIONS)
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in [*EXPECTATIONS, *PIXEL_KERNELS])


def test_a_timm_network_is_a_first_class_model(tmp_path, capsys):
    pytest.importorskip("timm")  # the `timm` extra; the test extra installs it
    model = build_model("timm:resnet18", seed=0)
    weights = save_safetensors(model.state_dict(), tmp_path / "t.safetensors", weights_metadata(model))
    assert run("weights", "info", weights) == 0
    assert re.search(r"^architecture\s+timm:resnet18\b", capsys.readouterr().out, re.M)
    assert run("find", "layer2", "--weights", weights, "--limit", 2, "-o", tmp_path / "find") == 0
    assert json.loads((tmp_path / "find" / "find.json").read_text())["architecture"] == "timm:resnet18"
    edit = tmp_path / "e.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: e\narchitecture: timm:resnet18\nedits:\n  - ablate: {units: [layer2.0.bn1:3]}\n")
    assert run("export", weights, "--edits", edit, "--outputs", "layer2.0.bn1", "-o", tmp_path / "m.onnx") == 0


def test_expanded_weights_through_a_bottleneck_follow_its_batch_norm():
    from synthcircuits.models.expanded import traced_incoming

    model = build_model("torchvision:resnet50", seed=6)
    arch, state = model.architecture, {k: v.clone() for k, v in model.state_dict().items()}
    state["layer2.1.bn1.running_var"] = torch.rand(128, generator=torch.Generator().manual_seed(0)) + 0.5
    first = traced_incoming(state, arch, "layer2.1.conv2", 3)
    # expanded through the 512 -> 128 bottleneck onto the block input
    assert first.through == ("layer2.1.conv1",) and first.input_layer == "layer2.0.relu_2" and first.weights.shape == (512, 3, 3)
    state["layer2.1.bn1.weight"] = state["layer2.1.bn1.weight"] * 2
    doubled = traced_incoming(state, arch, "layer2.1.conv2", 3)
    torch.testing.assert_close(doubled.weights, 2 * first.weights)
    w2, w1 = state["layer2.1.conv2.weight"][3], state["layer2.1.conv1.weight"][:, :, 0, 0]
    scale = state["layer2.1.bn1.weight"] / torch.sqrt(state["layer2.1.bn1.running_var"] + arch.layer("layer2.1.bn1").norm_eps)
    torch.testing.assert_close(doubled.weights, torch.einsum("bhw,b,bi->ihw", w2, scale, w1))
