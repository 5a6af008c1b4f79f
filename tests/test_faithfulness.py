"""Exact splices and the faithfulness measurement (issue 32).

A splice must change exactly the units it names: every other unit of the layer, and everything
below it, bit-identical. The measurement is checked against circuits whose answer is known (a
circuit whose units are silent measures as silencing; one that computes the trained units in
other weights recovers everything) and against an independent computation with run-time
interventions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.causal import Intervention, run_with_interventions
from synthcircuits.cli import main
from synthcircuits.compile import compile_spec
from synthcircuits.dataset.items import list_images
from synthcircuits.dataset.shards import RunOptions
from synthcircuits.edit import apply_edits, edited_model, parse_edit
from synthcircuits.faithfulness import measure_faithfulness, open_circuit
from synthcircuits.language import load_spec
from synthcircuits.layout import INCEPTIONV1
from synthcircuits.layout.address import parse_unit
from synthcircuits.models import build_model, capture, load_model, save_safetensors

ROOT = Path(__file__).resolve().parents[1]
UNITS = ["mixed3b:379", "mixed3b:385"]
OPTIONS = RunOptions(batch_size=4, workers=0, progress=False)


@pytest.fixture(scope="module")
def trained(photos):
    """An InceptionV1 whose predictions differ from image to image, as a trained network's do: He-scaled
    random convs, and a classifier centred on the photos' mean features (a default-initialised
    random network gives every image the same near-uniform answer, and nothing to measure)."""
    model = build_model("inceptionv1", seed=321)
    g = torch.Generator().manual_seed(321)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (2.0 / p[0].numel()) ** 0.5 if p.dim() > 1 else torch.zeros_like(p))
        features = capture(model, _read(list_images(photos)), ["avgpool0"])["avgpool0"].flatten(1)
        classifier = model.softmax2_pre_activation_matmul
        classifier.weight.mul_(3.0 / ((features - features.mean(0)) @ classifier.weight.T).std())
        classifier.bias.copy_(-(features.mean(0) @ classifier.weight.T))
    return model


def _read(items) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.asarray(Image.open(i.path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1) for i in items])


@pytest.fixture(scope="module")
def trained_file(trained, tmp_path_factory):
    return save_safetensors(trained.state_dict(), tmp_path_factory.mktemp("trained") / "trained.safetensors")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six smooth random 'photos' (random images give a random network nearly one answer)."""
    folder = tmp_path_factory.mktemp("photos")
    g = torch.Generator().manual_seed(5)
    for k in range(6):
        small = torch.rand(3, 8, 8, generator=g)
        image = torch.nn.functional.interpolate(small[None], size=(224, 224), mode="bilinear", align_corners=False)[0]
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / f"{k}.png")
    return folder


def patch_spec(folder: Path, base: Path, name: str = "patch.yaml", rule: str = "along_arc: {radius: 2, width: 1}") -> Path:
    """Two mixed3b 5x5 units rebuilt from four kept mixed3a units, through claimed bottleneck channels."""
    path = folder / name
    path.write_text(f"""synthcircuits: 1
name: patch
base: {base}
bottleneck_channels: {{mixed3b_5x5: [28, 29, 30, 31]}}
families:
  - {{name: kept, layer: mixed3a, keep: true, units: [3a:147, 3a:92, 3a:145, 3a:71], orientations: [0, 90, 180, 270], period: 360}}
  - name: curve
    layer: mixed3b
    units: [3b:379, 3b:385]
    orientations: [0, 90]
    period: 360
    bias: 0.5
    inputs: [{{from: kept, {rule}, tuning: {{excite: 1, inhibit: 0.5, width_deg: 45}}, gain: 4}}]
""")
    return path


def test_a_spliced_patch_changes_its_units_and_nothing_else_on_a_compiled_network(tmp_path, images):
    base_build = compile_spec(load_spec(ROOT / "specs" / "curve_circuit.yaml"))
    base_file = base_build.save(tmp_path / "curves.safetensors")
    base = load_model(base_file)
    spec = patch_spec(tmp_path, base_file)
    edit = parse_edit(f"synthcircuits_edit: 1\nname: e\nedits:\n  - splice: {{spec: {spec}}}\n", str(tmp_path / "e.yaml"))
    spliced = edited_model(apply_edits(base.state_dict(), edit))
    points = ["conv2d2", "mixed3a", "mixed3b", "mixed3b_5x5_bottleneck", "mixed3b_3x3"]
    ours, theirs = capture(spliced, images, points), capture(base, images, points)
    circuit = capture(compile_spec(load_spec(spec)).model(), images, ["mixed3b"])["mixed3b"]
    replaced = [379, 385]
    others = [c for c in range(480) if c not in replaced]
    for point in points:
        if point != "mixed3b":
            assert torch.equal(ours[point], theirs[point]), point
    assert torch.equal(ours["mixed3b"][:, others], theirs["mixed3b"][:, others])
    torch.testing.assert_close(ours["mixed3b"][:, replaced], circuit[:, replaced], rtol=1e-5, atol=1e-5)


def test_a_spliced_file_reopens_and_exports_with_onnx_parity(trained, trained_file, tmp_path, images):
    spec = patch_spec(tmp_path, trained_file)
    edit = tmp_path / "e.yaml"
    edit.write_text(f"synthcircuits_edit: 1\nname: e\nedits:\n  - transplant: {{spec: {spec}, units: [3b:379, 3b:385]}}\n")
    assert main(["edit", str(edit), "--weights", str(trained_file), "-o", str(tmp_path / "spliced.safetensors")]) == 0
    from synthcircuits.commands.common import open_model

    reopened = open_model(tmp_path / "spliced.safetensors").model
    direct = edited_model(apply_edits(trained.state_dict(), parse_edit(edit.read_text(), str(edit))))
    assert torch.equal(reopened(images), direct(images))
    assert main(["export", str(tmp_path / "spliced.safetensors"), "-o", str(tmp_path / "spliced.onnx")]) == 0
    assert (tmp_path / "spliced.onnx").is_file()


def donor(trained, change) -> dict:
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    change(state)
    return state


def test_a_circuit_whose_units_are_silent_measures_exactly_as_silencing(trained, photos):
    def silence(state):
        for name in UNITS:
            row = parse_unit(name, INCEPTIONV1).local
            state["mixed3b_5x5_pre_relu_conv.weight"][row] = 0
            state["mixed3b_5x5_pre_relu_conv.bias"][row] = 0

    side = _side(trained, donor(trained, silence))
    report = measure_faithfulness(trained, side, list_images(photos), options=OPTIONS)
    for measure in ("top1_agreement", "kl", "readout_r"):
        assert report.measures["circuit"][measure].value == pytest.approx(report.measures["zero"][measure].value, abs=1e-12)
    assert report.changes["circuit"] == report.changes["zero"]
    assert report.measures["zero"]["kl"].value > 0
    assert report.recovered["zero"]["kl"].value == pytest.approx(0.0, abs=1e-9)


def test_a_circuit_computing_the_trained_units_in_other_weights_recovers_everything(trained, photos):
    order = torch.randperm(32, generator=torch.Generator().manual_seed(3))

    def permute_bottleneck(state):  # the same function, other weights: a side path must carry the bottleneck
        for part in ("weight", "bias"):
            state[f"mixed3b_5x5_bottleneck_pre_relu_conv.{part}"] = state[f"mixed3b_5x5_bottleneck_pre_relu_conv.{part}"][order]
        state["mixed3b_5x5_pre_relu_conv.weight"] = state["mixed3b_5x5_pre_relu_conv.weight"][:, order]

    side = _side(trained, donor(trained, permute_bottleneck))
    assert "mixed3b 5x5 bottleneck channel(s) 0-3, " in side.describe()  # those the permutation moved
    report = measure_faithfulness(trained, side, list_images(photos), options=OPTIONS)
    assert report.changes["circuit"] == 0
    assert report.measures["circuit"]["kl"].value < 1e-9
    assert report.measures["circuit"]["readout_r"].value > 1 - 1e-9
    assert report.recovered["mean"]["kl"].value == pytest.approx(1.0, abs=1e-6)
    assert report.per_unit[0].recovered["kl"].value == pytest.approx(1.0, abs=1e-6)


def _side(trained, state):
    path = Path(save_safetensors(state, Path(__import__("tempfile").mkdtemp()) / "donor.safetensors"))
    return open_circuit(path, trained.state_dict(), INCEPTIONV1, [parse_unit(u, INCEPTIONV1) for u in UNITS])


def test_faithfulness_agrees_with_run_time_interventions(trained, trained_file, photos, tmp_path):
    spec = patch_spec(tmp_path, trained_file)
    items = list_images(photos)
    side = open_circuit(spec, trained.state_dict(), INCEPTIONV1, [])
    report = measure_faithfulness(trained, side, items, options=OPTIONS, per_unit=False)
    x = _read(items)
    rebuilt = compile_spec(load_spec(spec)).model()
    local = (59, 65)  # 3b:379 and 3b:385 in the 5x5 branch
    means = capture(trained, x, ["mixed3b"])["mixed3b"][:, [379, 385]].double().mean((0, 2, 3)).float()
    source = capture(rebuilt, x, ["mixed3b_5x5_pre_relu"], pre_relu=False)["mixed3b_5x5_pre_relu"]
    logits = "softmax2_pre_activation_matmul"
    runs = {"zero": [Intervention("mixed3b_5x5", "zero", channels=local)],
            "mean": [Intervention("mixed3b_5x5", "mean", channels=local, value=torch.zeros(96).index_put_((torch.tensor(local),), means))],
            "circuit": [Intervention.patch("mixed3b_5x5_pre_relu", source, channels=local)]}
    log_p = torch.log_softmax(run_with_interventions(trained, x, [], [logits])[logits].double(), 1)
    for name, interventions in runs.items():
        log_q = torch.log_softmax(run_with_interventions(trained, x, interventions, [logits])[logits].double(), 1)
        kl = float((log_p.exp() * (log_p - log_q)).sum(1).mean())
        assert report.measures[name]["kl"].value == pytest.approx(kl, rel=1e-3, abs=1e-9), name


def test_the_command_writes_strict_json_a_page_and_resumes(trained_file, photos, tmp_path, capsys):
    spec = patch_spec(tmp_path, trained_file)
    out = tmp_path / "out"
    argv = ["faithfulness", str(spec), "--weights", str(trained_file), "--images", str(photos), "-o", str(out), "--workers", "0",
            "--batch-size", "4"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "circuit spliced in" in printed and "against mean ablation" in printed and "mixed3b:379" in printed
    record = json.loads((out / "faithfulness.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert record["units"] == UNITS and record["images"] == 6 and len(record["per_unit"]) == 2
    assert set(record["measures"]) == {"trained", "zero", "mean", "circuit"}
    assert "<pre>" in (out / "faithfulness.html").read_text()
    assert main(argv) == 0  # a second run reads the finished shards
    assert "resuming" in capsys.readouterr().err
    from browser import assert_page_whole

    assert "recovered" in assert_page_whole(out / "faithfulness.html", tmp_path / "profile")
    report = tmp_path / "report"
    assert main(["report", str(trained_file), "-o", str(report), "--steps", "2", "--size", "32", "--units", "mixed3b:379",
                 "--faithfulness", str(out)]) == 0
    dom = assert_page_whole(report / "faithfulness.html", tmp_path / "profile")
    assert "faithfulness/faithfulness.html" in dom and "against mean ablation" in dom
    assert "faithfulness.html" in (report / "index.html").read_text()


def test_faithfulness_refuses_bad_input_at_one_line(trained_file, photos, tmp_path, capsys):
    from tests.test_bad_input import refused

    spec = patch_spec(tmp_path, trained_file)
    out = tmp_path / "out"
    common = ["--weights", trained_file, "--images", photos, "-o", out, "--workers", "0"]
    assert "replaces no unit" in refused(["faithfulness", trained_file, *common], tmp_path, capsys)
    bvlc = tmp_path / "bvlc.yaml"
    text = re.sub(r"\b3([ab]):", r"inception_3\1:", spec.read_text().replace("mixed3", "inception_3"))
    bvlc.write_text(text.replace("name: patch\n", "name: patch\narchitecture: bvlc_googlenet\n"))
    assert "its units are bvlc_googlenet units; the weights are inceptionv1" in refused(["faithfulness", bvlc, *common], tmp_path, capsys)
    broken = tmp_path / "broken"
    broken.mkdir()
    for k in range(3):
        (broken / f"{k}.jpg").write_bytes(b"not a jpeg")
    assert "none of the images could be read (3 listed" in refused(["faithfulness", spec, *common[:2], "--images", broken, *common[4:]], tmp_path, capsys)
    labelled = tmp_path / "labelled"
    (labelled / "n01").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(labelled / "n01" / "a.png")
    mapping = tmp_path / "map.txt"
    mapping.write_text("n01 no such class at all\n")
    err = refused(["faithfulness", spec, *common[:2], "--images", labelled, "--class-map", mapping, *common[4:]], tmp_path, capsys)
    assert f"{mapping}:1:" in err
    assert "does not place mixed3b:7" in refused(["faithfulness", spec, *common, "--units", "3b:7"], tmp_path, capsys)


def test_verify_holds_a_spec_to_its_faithfulness_claim(trained_file, photos, tmp_path, capsys):
    spec = patch_spec(tmp_path, trained_file)
    claim = f"checks:\n  - name: keeps the network's behaviour\n    faithfulness: {{images: {photos}, measure: kl, recovers_at_least: %s}}\n"
    spec.write_text(spec.read_text() + claim % "-1000")
    assert main(["verify", str(spec), "--weights", str(trained_file)]) == 0
    printed = capsys.readouterr().out
    assert "recovered KL(trained || edited) against mean ablation (6 images)" in printed and "pass" in printed
    spec.write_text(spec.read_text().replace("recovers_at_least: -1000", "recovers_at_least: 1"))
    assert main(["verify", str(spec), "--weights", str(trained_file)]) == 1  # a re-fitted circuit is never better than the units
    assert "FAIL" in capsys.readouterr().out


def test_a_faithfulness_claim_is_checked_at_its_line(trained_file, photos, tmp_path, capsys):
    from tests.test_bad_input import refused

    spec = patch_spec(tmp_path, trained_file)
    text = spec.read_text()
    spec.write_text(text + f"checks:\n  - faithfulness: {{images: nowhere, recovers_at_least: 0.5}}\n")
    assert f"{spec}:15:20: " in refused(["check-spec", spec], tmp_path, capsys)
    spec.write_text(text + f"checks:\n  - faithfulness: {{images: {photos}, measure: top5, recovers_at_least: 0.5}}\n")
    assert "top5 accuracy needs labelled images" in refused(["check-spec", spec], tmp_path, capsys)
    spec.write_text(text + f"checks:\n  - {{faithfulness: {{images: {photos}, recovers_at_least: 0.5}}, units: curve}}\n")
    assert "units: belongs to a stimulus check" in refused(["check-spec", spec], tmp_path, capsys)


def test_a_circuit_whose_units_span_two_branches_runs_once_and_changes_nothing_else(trained, trained_file, photos, tmp_path, images):
    from synthcircuits.commands.common import open_model
    from synthcircuits.commands.edit import edit_metadata, save_edited

    spec = tmp_path / "two.yaml"
    spec.write_text(f"""synthcircuits: 1
name: two-branches
base: {trained_file}
bottleneck_channels: {{mixed3b_5x5: [30, 31], mixed3b_3x3: [126, 127]}}
families:
  - {{name: kept, layer: mixed3a, keep: true, units: [3a:147, 3a:92], orientations: [0, 180], period: 360}}
  - name: wide
    layer: mixed3b
    branch: 5x5
    units: [3b:379]
    orientations: [0]
    period: 360
    inputs: [{{from: kept, center: {{}}, tuning: {{excite: 1, width_deg: 45}}, gain: 3}}]
  - name: narrow
    layer: mixed3b
    branch: 3x3
    units: [3b:200]
    orientations: [0]
    period: 360
    inputs: [{{from: kept, center: {{}}, tuning: {{excite: 1, width_deg: 45}}, gain: 3}}]
""")
    result = apply_edits(trained.state_dict(), parse_edit(f"synthcircuits_edit: 1\nname: e\nedits:\n  - splice: {{spec: {spec}}}\n",
                                                          str(tmp_path / "e.yaml")))
    (side,) = result.sides
    assert sorted(p.point for p in side.paths) == ["mixed3b_3x3_pre_relu", "mixed3b_5x5_pre_relu"]
    spliced = edited_model(result)
    assert len(spliced.circuits) == 1  # one circuit, one run of its stages, for both branches
    ours, theirs = capture(spliced, images, ["mixed3b"])["mixed3b"], capture(trained, images, ["mixed3b"])["mixed3b"]
    circuit = capture(compile_spec(load_spec(spec)).model(), images, ["mixed3b"])["mixed3b"]
    others = [c for c in range(480) if c not in (200, 379)]
    assert torch.equal(ours[:, others], theirs[:, others])
    torch.testing.assert_close(ours[:, [200, 379]], circuit[:, [200, 379]], rtol=1e-5, atol=1e-5)
    path = save_edited(spliced, tmp_path / "s.safetensors", edit_metadata(result, "hash", spliced))
    assert torch.equal(open_model(path).model(images), spliced(images))
    report = measure_faithfulness(trained, open_circuit(spec, trained.state_dict(), INCEPTIONV1, []), list_images(photos),
                                  options=OPTIONS, per_unit=False)
    assert sorted(report.units) == ["mixed3b:200", "mixed3b:379"] and report.measures["circuit"]["kl"].value > 0
