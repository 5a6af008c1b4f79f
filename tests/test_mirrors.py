"""Mirror partners (`synthcircuits mirrors`) and the mirror comparison of an edit's effect
(`edit --mirror`, `patch --mirror`), on models and images made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.models import build_model
from synthcircuits.stimuli import arcs
from synthcircuits.stimuli.compose import render_pictures
from synthcircuits.symmetry import MirrorStatistics, counts, mirror_partners, pairs
from synthcircuits.symmetry.answers import mirror_safe_side, sample_positions

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_partners_pair_swapped_units_and_find_self_mirrors_and_silent_ones():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    one = np.zeros(200)
    one[0] = 1.0  # answers a single input
    # unit 0 on a flip answers what unit 1 answered on the original, and back; unit 2 is flip-invariant;
    # unit 3 never varies; units 4 and 5 each answer one input, 5 the mirror image of 4's
    a = np.stack([x[:, 0], x[:, 1], x[:, 2], np.ones(200), one, np.zeros(200)], axis=1)
    b = np.stack([x[:, 1], x[:, 0], x[:, 2], np.ones(200), np.zeros(200), one], axis=1)
    stats = MirrorStatistics(6)
    stats.add(a[:120], b[:120])
    stats.add(a[120:], b[120:])  # sums over batches: the same as one batch
    r = stats.correlation()
    assert r[0, 1] == pytest.approx(1.0) and r[2, 2] == pytest.approx(1.0) and abs(r[0, 0]) < 0.2
    assert r[4, 5] == pytest.approx(1.0)  # a perfect correlation that says nothing: one input each
    units = mirror_partners(r, [f"u{k}" for k in range(6)], range(6), stats.live())
    assert [u.kind for u in units] == ["pair", "pair", "self", "silent", "silent", "silent"]
    assert units[0].partner == "u1" and units[1].partner == "u0" and units[2].partner == "u2"
    assert counts(units) == {"pair": 2, "self": 1, "one-way": 0, "silent": 3}
    assert [(p.unit, q.unit) for p, q in pairs(units)] == [("u0", "u1")]
    assert json.dumps([u.as_json() for u in units], allow_nan=False)  # silent units' NaNs are null
    with pytest.raises(ValueError):
        stats.add(np.full((1, 6), np.nan), b[:1])


def test_inputs_are_drawn_at_a_side_whose_grid_is_left_right_symmetric():
    geometry = build_model("inceptionv1", seed=0).geometry()
    side, exact = mirror_safe_side(geometry, ["conv2d0", "mixed3a", "mixed4b"])
    assert (side, exact) == (223, True)
    for size in (7, 13, 14, 28):
        positions = sample_positions(size)
        assert positions == sorted(size - 1 - p for p in positions)  # symmetric about the centre


def _lone_stroke_pathway(tmp_path) -> Path:
    """mirror_pathways.yaml with the arrowheads of its previous build (bias -0.2), which a lone
    stroke drives too: the census battery, which draws no arrowheads, then reaches every side.
    The shipped arrowheads need both strokes and stay silent on the battery."""
    path = tmp_path / "mirror_pathways.yaml"
    path.write_text((SPECS / "mirror_pathways.yaml").read_text().replace("    bias: -3.0\n", "    bias: -0.2\n"))
    return path


def test_mirrors_pairs_a_compiled_mirror_pathway_exactly(tmp_path):
    out = tmp_path / "mirrors"
    assert main(["mirrors", "mixed3b", "--spec", str(_lone_stroke_pathway(tmp_path)), "-o", str(out)]) == 0
    layer = json.loads((out / "mirrors.json").read_text())["layers"][0]
    assert layer["counts"]["pair"] == 2 and layer["counts"]["silent"] == 478
    (a, b, r), = layer["pairs"]
    assert {a, b} == {"mixed3b:0", "mixed3b:1"} and r > 0.9999
    assert (out / layer["sheet"]).is_file() and "mirror pairs" in (out / "mirrors.md").read_text()


def test_mirrors_over_images_pairs_the_arrowheads_and_finds_the_union_its_own_mirror(tmp_path):
    pictures = []
    for k, (dx, dy) in enumerate([(0, 0), (30, 10), (-40, 20), (10, -30), (-20, -10), (50, -40)]):
        arms = [{"line": {"angle": 45, "length": 22}, "at": [dx, dy + 8]}, {"line": {"angle": 135, "length": 22}, "at": [dx, dy - 8]}]
        if k % 2:  # some pictures hold a '>' too, somewhere else
            arms += [{"line": {"angle": 135, "length": 22}, "at": [-dx, 8 - dy]}, {"line": {"angle": 45, "length": 22}, "at": [-dx, -8 - dy]}]
        pictures.append(render_pictures({"p": {"size": 223, "parts": arms}})["p"])
    batch = tmp_path / "arrows.npy"
    np.save(batch, torch.stack(pictures).numpy().astype(np.float32))
    out = tmp_path / "mirrors"
    assert main(["mirrors", "mixed3a,mixed4a", "--spec", str(_lone_stroke_pathway(tmp_path)), "--images", str(batch), "-o", str(out)]) == 0
    layers = {entry["layer"]: entry for entry in json.loads((out / "mirrors.json").read_text())["layers"]}
    (a, b, r), = layers["mixed3a"]["pairs"]
    assert {a, b} == {"mixed3a:64", "mixed3a:65"} and r > 0.9999
    union = next(u for u in layers["mixed4a"]["units"] if u["unit"] == "mixed4a:0")
    assert union["kind"] == "self" and union["self_correlation"] > 0.9999
    assert layers["mixed3a"]["inputs"] == 6 and layers["mixed3a"]["samples"] == 6 * 25


def test_mirrors_refuses_an_unknown_layer_with_exit_2(tmp_path, capsys):
    assert main(["mirrors", "mixed9z", "--spec", str(SPECS / "mirror_pathways.yaml"), "-o", str(tmp_path / "m")]) == 2
    assert "no layer" in capsys.readouterr().err


@pytest.fixture(scope="module")
def confident_weights(tmp_path_factory):
    """Random InceptionV1 weights with a classifier 300x louder: peaked class probabilities, so
    removing units moves them (a random network's are nearly uniform)."""
    from synthcircuits.models import save_safetensors

    state = build_model("inceptionv1", seed=3).state_dict()
    state["softmax2_pre_activation_matmul.weight"] = state["softmax2_pre_activation_matmul.weight"] * 300
    return save_safetensors(state, tmp_path_factory.mktemp("confident") / "w.safetensors")


@pytest.fixture(scope="module")
def mirrored_pair(tmp_path_factory):
    """Two images, each the other's left-right flip."""
    folder = tmp_path_factory.mktemp("pair")
    image = (arcs(torch.tensor([20.0]), 40.0)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image[:40, :60] = [200, 30, 30]  # a red corner on one side
    Image.fromarray(image).save(folder / "a.png")
    Image.fromarray(np.ascontiguousarray(image[:, ::-1])).save(folder / "b.png")
    return folder


def _check_mirrored(report: dict) -> None:
    images = {e["image"]: e for e in report["images"]}
    a, b = images["a.png"], images["b.png"]
    # b is a flipped: a's mirror image is b, so its mirror effect is b's effect (same pixels, same numbers)
    assert a["mirror_effect"] == pytest.approx(b["effect"], abs=1e-6) and b["mirror_effect"] == pytest.approx(a["effect"], abs=1e-6)
    assert a["asymmetry"] == pytest.approx(-b["asymmetry"], abs=1e-6)
    assert a["effect"] > 0.01 and abs(a["asymmetry"]) > 1e-5  # the edit costs something, and a random net is not symmetric
    s = report["summary"]
    assert s["asymmetry_low"] <= s["asymmetry"] <= s["asymmetry_high"]


def test_edit_mirror_sets_each_images_effect_beside_its_mirror_images(confident_weights, mirrored_pair, tmp_path, capsys):
    edit = tmp_path / "e.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: e\narchitecture: inceptionv1\nedits:\n"
                    f"  - ablate: {{units: [{', '.join(f'mixed5b:{c}' for c in range(0, 1024, 2))}]}}\n")
    out = tmp_path / "effect.json"
    assert main(["edit", str(edit), "--weights", str(confident_weights), "--images", str(mirrored_pair), "--mirror",
                 "--json", str(out), "--workers", "0"]) == 0
    assert "effect on their mirror images" in capsys.readouterr().out
    _check_mirrored(json.loads(out.read_text())["mirror"])
    assert main(["edit", str(edit), "--weights", str(confident_weights), "--mirror"]) == 2  # needs --images


def test_patch_mirror_does_the_same_for_run_time_interventions(confident_weights, mirrored_pair, tmp_path):
    spec = tmp_path / "p.yaml"
    spec.write_text("synthcircuits_patch: 1\nname: p\ninterventions:\n"
                    f"  - zero: {{units: [{', '.join(f'mixed5b:{c}' for c in range(0, 1024, 2))}]}}\n")
    assert main(["patch", str(spec), "--weights", str(confident_weights), "--images", str(mirrored_pair), "--mirror",
                 "-o", str(tmp_path / "patch"), "--workers", "0"]) == 0
    _check_mirrored(json.loads((tmp_path / "patch" / "patch.json").read_text())["mirror"])


def test_mirrors_over_a_folder_skips_and_lists_an_unreadable_image(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for k, angle in enumerate((30.0, 150.0, 80.0)):
        image = (arcs(torch.tensor([angle]), 40.0)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(image).save(folder / f"{k}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    out = tmp_path / "m"
    assert main(["mirrors", "mixed3a", "--spec", str(SPECS / "mirror_pathways.yaml"), "--images", str(folder), "-o", str(out)]) == 0
    summary = json.loads((out / "mirrors.json").read_text())
    assert [Path(s["image"]).name for s in summary["skipped"]] == ["broken.png"] and summary["layers"][0]["inputs"] == 3
