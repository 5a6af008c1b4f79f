"""Circuits that compose and mirror: arrangement rules, mirror families, unions, polysemantic
units, includes, composed pictures, and the shipped specs that use them (each also broken on
purpose, to show its checks notice)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from synthcircuits.commands.verify import verify_spec
from synthcircuits.compile import compile_spec
from synthcircuits.compile.graph import build_graph
from synthcircuits.language import SpecError, load_spec, parse_spec
from synthcircuits.stimuli.compose import render_pictures

SPECS = Path(__file__).resolve().parent.parent / "specs"

HEAD = """synthcircuits: 1
name: t
architecture: inceptionv1
families:
  - name: g
    layer: conv2d0
    orientations: 4
    kernel: {gabor: {size: 7, wavelength: 4, sigma: 1.5}}
  - name: g1
    layer: conv2d1
    orientations: 4
    inputs: [{from: g}]
  - name: g2
    layer: conv2d2
    orientations: 4
    inputs: [{from: g1}]
"""

LEFT_RIGHT = """  - name: left
    layer: mixed3a
    branch: 3x3
    inputs: [{from: g2}]
  - name: right
    layer: mixed3a
    branch: 3x3
    mirror_of: left
"""


def _family_weights(text: str, target: str, source: str) -> np.ndarray:
    return build_graph(parse_spec(text)).weights[(target, source)]


def _failed(rows) -> list[str]:
    return [f"{r.check}: {r.measure}" for r in rows if not r.passed]


def _copy_specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    shutil.copytree(SPECS, folder, ignore=shutil.ignore_patterns("edits", "patches"))
    return folder


def _variant(folder: Path, name: str, old: str, new: str) -> Path:
    path = folder / name
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


# -- the language ----------------------------------------------------------------------------


def test_region_rules_read_one_side_of_the_kernel_in_the_units_own_frame():
    text = HEAD + """  - name: top
    layer: mixed3a
    branch: 5x5
    orientations: [0, 90]
    inputs: [{from: g2, region: {side: top}, tuning: {excite: 1, width_deg: 1}}]
"""
    w = _family_weights(text, "top", "g2")  # (2 targets, 4 sources, 5, 5)
    at_0 = np.abs(w[0]).sum(0)
    assert at_0[:2].sum() > 0 and at_0[2:].sum() == 0  # rows above the centre only (y up = row 0 first)
    at_90 = np.abs(w[1]).sum(0)  # turned 90 deg counter-clockwise: "top" is now the left side
    assert at_90[:, :2].sum() > 0 and at_90[:, 2:].sum() == 0
    assert np.isclose(w[0].sum(), 1.0)  # the pattern sums to one


def test_ring_rules_expect_directed_sources_to_face_outward():
    text = HEAD + """  - name: c
    layer: mixed3a
    branch: 3x3
    period: 360
    orientations: 4
    inputs: [{from: g2, center: {}}]
  - name: circle
    layer: mixed3b
    branch: 5x5
    inputs: [{from: c, ring: {radius: 2, width: 0.3}, tuning: {excite: 1, width_deg: 5}}]
"""
    w = _family_weights(text, "circle", "c")[0]  # (4 sources at 0, 90, 180, 270 deg, 5, 5)
    # the source facing right (0 deg) is read on the right of the ring, the one facing up on top
    assert w[0, 2, 4] > 0 and w[0, 2, 0] == 0
    assert w[1, 0, 2] > 0 and w[1, 4, 2] == 0
    assert w[2, 2, 0] > 0 and w[3, 4, 2] > 0
    assert w[:, 2, 2].sum() == 0  # nothing at the centre


def test_offset_and_turn_place_one_source_orientation_at_one_position():
    text = HEAD + """  - name: corner
    layer: mixed3a
    branch: 5x5
    inputs:
      - {from: g2, offset: {x: 2, y: 0}, turn: 90, tuning: {excite: 1, width_deg: 1}}
"""
    w = _family_weights(text, "corner", "g2")[0]
    assert w[2, 2, 4] == pytest.approx(1.0, rel=0.02)  # the 90 deg source, two cells right
    assert np.abs(w).sum() == pytest.approx(1.0, rel=0.02)


def test_a_rule_that_reads_no_position_is_an_error_at_its_line():
    text = HEAD + """  - name: far
    layer: mixed3a
    branch: 3x3
    inputs: [{from: g2, offset: {x: 4, y: 0}}]
"""
    with pytest.raises(SpecError) as info:
        build_graph(parse_spec(text, "far.yaml"))
    assert "far.yaml:20" in str(info.value.location) and "gives no weight" in info.value.message


def test_a_mirror_family_is_its_original_flipped_with_inputs_swapped():
    text = HEAD + """  - name: left
    layer: mixed3a
    branch: 3x3
    inputs:
      - {from: g2, region: {side: left}, tuning: {excite: 1, width_deg: 1}, turn: 45}
  - name: right
    layer: mixed3a
    branch: 3x3
    mirror_of: left
"""
    graph = build_graph(parse_spec(text))
    left, right = graph.weights[("left", "g2")][0], graph.weights[("right", "g2")][0]
    # g2 at 0, 45, 90, 135 deg: 45 and 135 are each other's mirror images, 0 and 90 their own
    assert np.allclose(right[3], left[1][:, ::-1]) and np.allclose(right[1], left[3][:, ::-1])
    assert np.allclose(right[0], left[0][:, ::-1]) and right[3][:, 2:].sum() > 0
    assert graph.families["right"].orientations == (180.0 % 180,)


def test_a_mirror_needs_its_inputs_to_have_mirror_images():
    text = HEAD.replace("orientations: 4\n    inputs: [{from: g1}]", "orientations: [0, 30]\n    inputs: [{from: g1, tuning: {width_deg: 5}}]") + LEFT_RIGHT
    with pytest.raises(SpecError) as info:
        build_graph(parse_spec(text, "m.yaml"))
    assert "no mirror image" in info.value.message and "m.yaml:21" in str(info.value.location)  # the mirror family


def test_a_mirror_writes_no_rules_of_its_own():
    text = HEAD + LEFT_RIGHT + "    inputs: [{from: g2}]\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, "m.yaml")
    assert "takes its inputs from it" in info.value.message and str(info.value.location).startswith("m.yaml:25")


def test_a_union_reads_every_family_it_names_with_one_rule():
    text = HEAD + """  - name: a
    layer: mixed3a
    branch: 1x1
    inputs: [{from: g2}]
  - name: b
    layer: mixed3a
    branch: 1x1
    inputs: [{from: g2}]
  - name: both
    layer: mixed3b
    branch: 1x1
    inputs: [{from: [a, b], gain: 2}]
"""
    graph = build_graph(parse_spec(text))
    assert graph.weights[("both", "a")].sum() == graph.weights[("both", "b")].sum() == 2


def test_include_brings_families_first_and_refuses_cycles(tmp_path):
    (tmp_path / "a.yaml").write_text(HEAD.replace("name: t", "name: a"))
    (tmp_path / "b.yaml").write_text("synthcircuits: 1\nname: b\ninclude: [a.yaml]\nfamilies:\n"
                                     "  - {name: h, layer: mixed3a, branch: 1x1, inputs: [{from: g2}]}\n")
    spec = load_spec(tmp_path / "b.yaml")
    assert [f.name for f in spec.families] == ["g", "g1", "g2", "h"]
    assert spec.includes == (tmp_path / "a.yaml",)
    (tmp_path / "c.yaml").write_text("synthcircuits: 1\nname: c\ninclude: [d.yaml]\nfamilies:\n  - {name: x, layer: conv2d1}\n")
    (tmp_path / "d.yaml").write_text("synthcircuits: 1\nname: d\ninclude: [c.yaml]\nfamilies:\n  - {name: y, layer: conv2d1}\n")
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "c.yaml")
    assert "cycle" in info.value.message and "d.yaml:3" in str(info.value.location)


def test_composed_pictures_place_parts_where_asked_and_flip_exactly():
    pictures = render_pictures({
        "p": {"size": 101, "parts": [{"disc": {"radius": 5}, "at": [20, 30], "colour": [1, 0, 0]}]},
        "q": {"of": "p", "flip": "horizontal"},
    })
    p, q = pictures["p"], pictures["q"]
    assert p.shape == (3, 101, 101)
    assert p[:, 50 - 30, 50 + 20].tolist() == pytest.approx([1, 0, 0], abs=0.01)  # y up: 30 px above the centre row
    assert torch.equal(q, p.flip(-1))


# -- the shipped specs -----------------------------------------------------------------------


def test_mirror_pathways_hold_and_break_where_the_mirror_or_inhibition_is_wrong(tmp_path):
    spec = load_spec(SPECS / "mirror_pathways.yaml")
    rows, *_ = verify_spec(spec)
    assert not _failed(rows) and {r.check for r in rows} == {c.name for c in spec.checks}
    folder = _copy_specs(tmp_path)
    # a right side written by hand without flipping (the left rules copied): not a mirror
    copied = _variant(folder, "mirror_pathways.yaml", "    mirror_of: arrow_left\n", """    inputs:
      - {from: stroke_2, region: {side: top}, turn: 45, tuning: {excite: 1.0, width_deg: 5}}
      - {from: stroke_2, region: {side: bottom}, turn: 135, tuning: {excite: 1.0, width_deg: 5}}
""")
    assert any("arrowheads mirror: maps vs" in f for f in _failed(verify_spec(load_spec(copied))[0]))
    folder = _copy_specs(tmp_path / "2")
    no_inhibition = _variant(folder, "mirror_pathways.yaml", "        gain: -1.5\n", "        gain: 0.0\n")
    # the arrowheads need both strokes, so only '<' and '>' at the same place (an X) engage the inhibition
    assert any(f.startswith("facing mirror: answer to both") for f in _failed(verify_spec(load_spec(no_inhibition))[0]))
    folder = _copy_specs(tmp_path / "3")
    one_sided = _variant(folder, "mirror_pathways.yaml", "      - from: [facing_left, facing_right]", "      - from: [facing_left]")
    failed = _failed(verify_spec(load_spec(one_sided))[0])
    assert any(f.startswith("union:") for f in failed)


def test_circles_from_curves_hold_and_break_when_the_curves_face_inward(tmp_path):
    rows, *_ = verify_spec(load_spec(SPECS / "circles.yaml"))
    assert not _failed(rows)
    ratio = next(r for r in rows if r.measure.startswith("circle /"))
    assert ratio.value >= 3
    folder = _copy_specs(tmp_path)
    inward = _variant(folder, "circles.yaml", "        ring: {radius: 2, width: 0.35}\n", "        ring: {radius: 2, width: 0.35}\n        turn: 180\n")
    assert _failed(verify_spec(load_spec(inward))[0])


def test_car_parts_need_windows_above_and_wheels_below(tmp_path):
    rows, *_ = verify_spec(load_spec(SPECS / "car_parts.yaml"))
    assert not _failed(rows)
    folder = _copy_specs(tmp_path)
    path = folder / "car_parts.yaml"
    text = path.read_text().replace("side: top}", "side: TOP}").replace("side: bottom}", "side: top}").replace("side: TOP}", "side: bottom}")
    path.write_text(text)
    assert any(f.startswith("parts in place: answer to car (") for f in _failed(verify_spec(load_spec(path))[0]))


def test_car_detector_patches_a_base_and_prefers_windows_over_wheels(tmp_path, safetensors_weights_file):
    spec = load_spec(SPECS / "car_detector.yaml")
    with pytest.raises(Exception, match="keeps trained units"):
        compile_spec(spec)
    rows, build, *_ = verify_spec(spec, base=safetensors_weights_file)
    assert not _failed(rows)
    base = build.state  # only 4c:447 (and the three bottleneck channels it took) changed
    folder = _copy_specs(tmp_path)
    path = folder / "car_detector.yaml"
    path.write_text(path.read_text().replace("side: top}", "side: TOP}").replace("side: bottom}", "side: top}").replace("side: TOP}", "side: bottom}"))
    assert _failed(verify_spec(load_spec(path), base=safetensors_weights_file)[0])
    assert base["mixed4c_5x5_pre_relu_conv.weight"].shape[0] == 64


def test_polysemantic_unit_answers_both_and_loses_only_the_ablated_one(tmp_path):
    rows, *_ = verify_spec(load_spec(SPECS / "polysemantic.yaml"))
    assert not _failed(rows) and sum(r.measure.startswith("without") for r in rows) == 4
    folder = _copy_specs(tmp_path)
    # the "red" rule reading strokes instead: the unit no longer answers red, and no ablation can show two features
    broken = _variant(folder, "polysemantic.yaml", "{from: red_2, region", "{from: stroke_2, region")
    assert _failed(verify_spec(load_spec(broken))[0])


def test_verify_cli_runs_a_picture_spec_and_exits_1_on_failure(tmp_path):
    done = subprocess.run([sys.executable, "-m", "synthcircuits.cli", "verify", str(SPECS / "mirror_pathways.yaml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "18 of 18 expectations hold" in done.stdout
    folder = _copy_specs(tmp_path)
    broken = _variant(folder, "mirror_pathways.yaml", "at_least: 0.9}", "at_least: 300}")
    done = subprocess.run([sys.executable, "-m", "synthcircuits.cli", "verify", str(broken)], capture_output=True, text=True)
    assert done.returncode == 1 and "FAIL" in done.stdout


def test_image_parts_paste_a_file_and_a_missing_one_is_named_at_its_line(tmp_path):
    from PIL import Image

    Image.new("RGB", (40, 40), (255, 0, 0)).save(tmp_path / "red.png")
    spec_text = (SPECS / "mirror_pathways.yaml").read_text().replace(
        "      right: {of: left, flip: horizontal}", "      right: {parts: [{image: {path: red.png, size: 32}}]}", 1)
    (tmp_path / "s.yaml").write_text(spec_text)
    spec = load_spec(tmp_path / "s.yaml")
    from synthcircuits.cleanroom.checked import picture_parts

    build = compile_spec(spec)
    pictures = render_pictures(spec.checks[0].pictures, picture_parts(build.model(), build))
    centre = pictures["right"][:, 111, 111]
    assert centre.tolist() == pytest.approx([1.0, 0.0, 0.0], abs=0.01)
    (tmp_path / "s.yaml").write_text(spec_text.replace("red.png", "gone.png"))
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "s.yaml")
    assert "gone.png does not exist" in info.value.message and str(info.value.location).startswith(f"{tmp_path / 's.yaml'}:")
