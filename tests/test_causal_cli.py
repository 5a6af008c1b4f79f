"""The causal commands as a user runs them: intervention specs (and their errors), `patch`,
`attribute` and `extract`, on weights saved in the real formats and images made here."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.causal import Intervention, run_with_interventions
from synthcircuits.causal.patch_spec import parse_patch
from synthcircuits.cli import main
from synthcircuits.compile import compile_spec
from synthcircuits.models import build_model, load_model, save_safetensors
from synthcircuits.models.capture import capture
from synthcircuits.probe.tuning import ProbeUnit, radial_tuning
from synthcircuits.language import SpecError, load_spec
from synthcircuits.stimuli import arcs

ROOT = Path(__file__).parent.parent
CURVES = ROOT / "specs" / "curve_circuit.yaml"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("causal")
    images = root / "images"
    images.mkdir()
    for k, image in enumerate(arcs(torch.tensor([0.0, 90.0, 200.0]), 40.0)):
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(images / f"{k}.png")
    save_safetensors(build_model("inceptionv1", seed=0).state_dict(), root / "w.safetensors")
    return root


def write(folder, name, body):
    path = folder / name
    path.write_text("synthcircuits_patch: 1\nname: t\n" + body)
    return path


@pytest.mark.parametrize("body, where, message", [
    ("interventions:\n  - zero: {units: [mixed3a:999]}\n", "4:", "256 channels"),
    ("interventions:\n  - zero: {layer: mixed9z}\n", "4:", "unknown layer"),
    ("interventions:\n  - zero: {units: [mixed3a:1, mixed3b:2]}\n", "4:", "2 layers"),
    ("interventions:\n  - scale: {units: [mixed3a:1]}\n", "4:", "factor"),
    ("interventions:\n  - zero: {units: [mixed3a:1], layer: mixed3a}\n", "4:", "one of them"),
    ("interventions:\n  - path: {from: mixed3a:5, to: mixed4a:3, do: zero}\n", "4:", "no connection"),
    ("interventions:\n  - patch: {layer: mixed3a, source: nowhere.png}\n", "4:", "not an image file"),
    ("interventions:\n  - mean: {layer: mixed3a, images: nowhere}\n", "4:", "not a folder"),
    ("interventions:\n  - ablate: {units: [mixed3a:1]}\n", "4:", "ablate"),
    ("target: mixed3b:9999\ninterventions:\n  - zero: {layer: mixed3a}\n", "3:", "480 channels"),
])
def test_bad_intervention_specs_name_the_line(tmp_path, body, where, message):
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(SpecError) as caught:
        parse_patch(path.read_text(), str(path))
    text = str(caught.value)
    assert f"bad.yaml:{where}" in text and message in text, text


def test_bad_specs_exit_2_with_one_line_and_nothing_written(folder, tmp_path, capsys):
    out = tmp_path / "out"
    cases = [write(tmp_path, "a.yaml", "interventions:\n  - zero: {units: [mixed3a:999]}\n"),
             write(tmp_path, "b.yaml", "interventions:\n  - zero: {units: [mixed3a:1], positions: [[90, 90]]}\n"),
             write(tmp_path, "c.yaml", "architecture: bvlc_googlenet\ninterventions:\n  - zero: {units: [inception_3a:1]}\n"),
             write(tmp_path, "d.yaml", "x: &a [*a]\ninterventions: []\n"), CURVES]
    for spec in cases:
        code = main(["patch", str(spec), "--weights", str(folder / "w.safetensors"), "--images", str(folder / "images"),
                     "-o", str(out), "--workers", "0"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err
        assert not out.exists()


def test_patch_reports_the_target_and_the_top5_before_and_after(folder, tmp_path, capsys):
    spec = write(folder, "p.yaml", "target: mixed3b:10\ninterventions:\n  - zero: {units: [mixed3a:8, mixed3a:7]}\n"
                                   "  - path: {from: mixed3a:8, to: mixed3b:10, do: scale, factor: 3}\n")
    out = tmp_path / "out"
    assert main(["patch", str(spec), "--weights", str(folder / "w.safetensors"), "--images", str(folder / "images"),
                 "-o", str(out), "--workers", "0"]) == 0
    report = json.loads((out / "patch.json").read_text())
    assert len(report["images"]) == 3 and all(len(e["top5_before"]) == 5 and len(e["top5_after"]) == 5 for e in report["images"])
    # The same numbers by the library: zero the two units, then the path from 3a:8 to 3b:10 scaled (3a:8 is zero there too)
    model = load_model(folder / "w.safetensors")
    from synthcircuits.images import load_image

    batch = torch.stack([load_image(folder / "images" / f"{k}.png", 224) for k in range(3)])
    after = run_with_interventions(model, batch, [Intervention("mixed3a", "zero", channels=(8, 7))], ["mixed3b"])["mixed3b"][:, 10, 13, 13]
    before = capture(model, batch, ["mixed3b"])["mixed3b"][:, 10, 13, 13]
    got = report["target_values"]
    np.testing.assert_allclose([r["before"] for r in got], before.numpy(), rtol=1e-5)
    np.testing.assert_allclose([r["after"] for r in got], after.numpy(), rtol=1e-5)
    assert any(abs(r["after"] - r["before"]) > 1e-3 for r in got)
    assert "top-5 before" in capsys.readouterr().out


def test_an_identity_patch_changes_no_prediction(folder, tmp_path):
    spec = write(folder, "same.yaml", "interventions:\n  - scale: {layer: mixed4a, factor: 1}\n")
    out = tmp_path / "out"
    assert main(["patch", str(spec), "--weights", str(folder / "w.safetensors"), "--images", str(folder / "images" / "0.png"),
                 str(folder / "images" / "1.png"), "-o", str(out), "--workers", "0"]) == 0
    report = json.loads((out / "patch.json").read_text())
    assert report["flipped"] == 0 and all(e["top5_before"] == e["top5_after"] for e in report["images"])


def test_patch_runs_on_a_traced_network(folder, tmp_path):
    weights = save_safetensors(build_model("torchvision:resnet18", seed=0).state_dict(), tmp_path / "resnet18.safetensors")
    spec = write(tmp_path, "r.yaml", "architecture: torchvision:resnet18\ntarget: layer2.0.conv1:3\nposition: mean\n"
                                     "interventions:\n  - zero: {layer: layer1}\n")
    out = tmp_path / "out"
    assert main(["patch", str(spec), "--weights", str(weights), "--arch", "torchvision:resnet18", "--images", str(folder / "images"),
                 "-o", str(out), "--workers", "0"]) == 0
    report = json.loads((out / "patch.json").read_text())
    assert all(r["before"] != r["after"] for r in report["target_values"])


def test_attribute_writes_tables_heatmaps_and_json(folder, tmp_path, capsys):
    out = tmp_path / "ig"
    assert main(["attribute", "mixed3b:10", "--to", "mixed3a", "--weights", str(folder / "w.safetensors"),
                 "--images", str(folder / "images"), "--steps", "64", "-o", str(out)]) == 0
    data = json.loads((out / "attribution.json").read_text())
    assert len(data["images"]) == 3 and len(data["mean_per_unit"]) == 256
    assert max(r["completeness_gap"] for r in data["images"]) < 0.01
    heatmaps = sorted(out.glob("heatmap_*.png"))
    assert len(heatmaps) == 3 and Image.open(heatmaps[0]).size == (5 * 224 + 4 * 2, 224)
    # a 1x1-branch unit is linear in its inputs: IG from zeros equals the articles' edge attribution
    edges = tmp_path / "edges"
    assert main(["attribute", "mixed3b:10", "--method", "edges", "--weights", str(folder / "w.safetensors"),
                 "--images", str(folder / "images"), "-o", str(edges)]) == 0
    by_edges = {r["unit"]: r["value"] for r in json.loads((edges / "attribution.json").read_text())["mean_per_unit"]}
    by_ig = {r["unit"]: r["value"] for r in data["mean_per_unit"]}
    assert max(abs(by_edges[u] - by_ig[u]) for u in by_ig) < 1e-3 * max(abs(v) for v in by_ig.values())
    assert main(["attribute", "class:tabby", "--to", "mixed4e", "--method", "gradient", "--weights", str(folder / "w.safetensors"),
                 "--images", str(folder / "images" / "0.png"), str(folder / "images" / "1.png"), "-o", str(tmp_path / "cls")]) == 0


@pytest.mark.parametrize("argv, message", [
    (["mixed3a:1", "--to", "mixed3b"], "does not come before"),
    (["mixed3b:1", "--to", "nowhere"], "unknown layer"),
    (["class:no such thing", "--to", "mixed3a"], "no class"),
    (["mixed3b:1", "--to", "conv2d2", "--method", "edges"], "direct inputs"),
    (["mixed3b:1", "--to", "mixed3a", "--position", "1,x"], "--position"),
    (["mixed3b:1", "--to", "mixed3a", "--position", "99,99"], "no position"),
])
def test_attribute_refuses_bad_requests(folder, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    code = main(["attribute", *argv, "--weights", str(folder / "w.safetensors"), "--images", str(folder / "images" / "0.png"),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not out.exists()


def test_extraction_recovers_the_edges_the_curve_circuit_wires_and_its_draft_rebuilds_the_unit(tmp_path, capsys):
    draft = tmp_path / "draft.yaml"
    assert main(["extract", "3b:379", "--spec", str(CURVES), "--fraction", "0.9", "-o", str(draft)]) == 0
    spec = load_spec(draft)
    kept = {str(u) for f in spec.families if f.keep for u in f.units}
    # 3b:379 prefers 243 degrees; the spec wires early curves at 222.5 (3a:147), 245 (3a:68) and 267.5 (3a:189) to it hardest
    assert {"mixed3a:147", "mixed3a:68", "mixed3a:189"} <= kept
    assert len(kept) < 40
    original = compile_spec(load_spec(CURVES), "inceptionv1").model()
    rebuilt = compile_spec(spec, "inceptionv1").model()
    unit = ProbeUnit("3b:379", "mixed3b", 379)
    a, b = radial_tuning(original, [unit])[0], radial_tuning(rebuilt, [unit])[0]
    assert np.corrcoef(a.responses, b.responses)[0, 1] > 0.95
    assert main(["verify", str(draft)]) == 0
    assert main(["check-spec", str(draft)]) == 0


def test_extraction_refuses_what_it_cannot_draft(folder, tmp_path, capsys):
    bvlc = save_safetensors(build_model("bvlc_googlenet", seed=0).state_dict(), tmp_path / "bvlc.safetensors")
    for argv, message in ((["inception_3b:1", "--weights", str(bvlc)], "InceptionV1's layout"),
                          (["mixed3b:1", "--weights", str(folder / "w.safetensors"), "--fraction", "0"], "fraction"),
                          (["mixed9z:1", "--weights", str(folder / "w.safetensors")], "unknown layer")):
        out = tmp_path / "d.yaml"
        code = main(["extract", *argv, "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, err
        assert not out.exists()


def test_patch_on_a_local_ray_instance_gives_the_local_numbers(folder, tmp_path):
    pytest.importorskip("ray", reason="Ray is the optional extra; the test extra installs it, so CI runs this")
    spec = write(folder, "ray.yaml", "target: mixed3b:10\ninterventions:\n  - zero: {units: [mixed3a:8, mixed3a:7]}\n"
                                     "  - path: {from: mixed3a:9, to: mixed3b:10, do: set, value: 5}\n")
    reports = []
    for extra in ([], ["--ray"]):
        out = tmp_path / ("ray" if extra else "local")
        assert main(["patch", str(spec), "--weights", str(folder / "w.safetensors"), "--images", str(folder / "images"),
                     "-o", str(out), "--workers", "0", *extra]) == 0
        reports.append(json.loads((out / "patch.json").read_text()))
    here, there = reports  # the same numbers, up to the rounding of another thread count
    for a, b in zip(here["target_values"], there["target_values"]):
        assert a["image"] == b["image"] and a["before"] == pytest.approx(b["before"], rel=1e-5) and a["after"] == pytest.approx(b["after"], rel=1e-5)
    assert [e["image"] for e in here["images"]] == [e["image"] for e in there["images"]]


def test_resumed_shards_are_not_reused_when_the_source_image_changed(folder, tmp_path, capsys):
    source = tmp_path / "source.png"
    spec = write(tmp_path, "s.yaml", f"target: mixed3b:10\ninterventions:\n  - patch: {{layer: mixed3a, source: {source}}}\n")
    codes = []
    for picture in ("0.png", "0.png", "1.png"):
        shutil.copy(folder / "images" / picture, source)
        codes.append(main(["patch", str(spec), "--weights", str(folder / "w.safetensors"), "--images", str(folder / "images"),
                           "-o", str(tmp_path / "out"), "--workers", "0", "--shards", str(tmp_path / "shards")]))
    assert codes == [0, 0, 2]  # the same interventions resume; other source values are another job
    assert "shards of another job" in capsys.readouterr().err


def test_unreadable_images_are_skipped_and_listed_and_bad_mean_folders_named_at_their_line(folder, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(folder / "images" / "0.png", images / "0.png")
    (images / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "ig"
    assert main(["attribute", "mixed3b:10", "--to", "mixed3a", "--weights", str(folder / "w.safetensors"), "--images", str(images),
                 "--steps", "4", "-o", str(out)]) == 0
    data = json.loads((out / "attribution.json").read_text())
    assert [r["image"] for r in data["images"]] == ["0.png"] and [s["image"] for s in data["skipped"]] == ["broken.png"]
    assert "skipped" in capsys.readouterr().out
    only_broken = tmp_path / "broken"
    only_broken.mkdir()
    (only_broken / "b.png").write_bytes(b"not an image")
    assert main(["attribute", "mixed3b:10", "--method", "edges", "--weights", str(folder / "w.safetensors"), "--images", str(only_broken),
                 "-o", str(tmp_path / "e")]) == 2
    assert "none of the images could be read" in capsys.readouterr().err
    spec = write(tmp_path, "m.yaml", f"interventions:\n  - mean: {{layer: mixed3a, images: {only_broken}}}\n")
    assert main(["patch", str(spec), "--weights", str(folder / "w.safetensors"), "--images", str(images / "0.png"),
                 "-o", str(tmp_path / "p"), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "m.yaml:4:" in err and "b.png" in err and not (tmp_path / "p").exists()
