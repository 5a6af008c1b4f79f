"""The other early-vision circuits: rules over every member of a family, hue as an axis of
rotated copies, single-copy families read alike, the shipped high-low frequency, black-and-white
and colour contrast specs (and variants broken on purpose), and `find` recovering each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from synthcircuits.cli import main
from synthcircuits.commands.verify import verify_spec
from synthcircuits.compile.graph import build_graph
from synthcircuits.kernels.pixels import hue_rotation
from synthcircuits.language import SpecError, load_spec, parse_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

HUES = """synthcircuits: 1
name: t
architecture: inceptionv1
families:
  - name: colour
    layer: conv2d0
    axis: hue
    orientations: 6
    kernel: {color_opponent: {size: 7, center: [1, -0.5, -0.5], surround: [0, 0, 0], center_sigma: 2, surround_sigma: 3}}
  - name: lines
    layer: conv2d0
    orientations: 4
    kernel: {line: {size: 7, width: 1}}
"""


def _failed(rows) -> list[str]:
    return [f"{r.check}: {r.measure}" for r in rows if not r.passed]


def _broken(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of a shipped spec with one change (and the specs it includes beside it)."""
    for other in SPECS.glob("*.yaml"):
        shutil.copy(other, tmp_path / other.name)
    path = tmp_path / name
    text = (SPECS / name).read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


def test_a_hue_family_turns_its_colours_not_its_shape():
    graph = build_graph(parse_spec(HUES))
    kernels = graph.pixel_kernels["colour"]  # (6, 3, 7, 7): red, yellow, green, cyan, blue, magenta
    assert np.allclose(kernels[2], kernels[0][[2, 0, 1]])  # 120 deg: the red weights now sit on green
    assert np.allclose(kernels[3], np.einsum("ij,jhw->ihw", hue_rotation(180), kernels[0]))
    assert np.allclose(kernels[1].sum(0), kernels[0].sum(0))  # the same spatial pattern at every hue
    assert graph.families["colour"].period == 360


def test_hue_rules_compare_hues_and_every_reads_all_members_alike():
    text = HUES + """  - {name: c1, layer: conv2d1, axis: hue, orientations: 6, inputs: [{from: colour, tuning: {width_deg: 1}}]}
  - name: opposite
    layer: conv2d2
    axis: hue
    orientations: 6
    inputs: [{from: c1, turn: 180, tuning: {width_deg: 1}}]
  - {name: l1, layer: conv2d1, orientations: 4, inputs: [{from: lines, tuning: {width_deg: 1}}]}
  - name: any
    layer: conv2d2
    inputs: [{from: c1, tuning: {every: true, excite: -2}}, {from: l1, tuning: {every: true}}]
"""
    graph = build_graph(parse_spec(text))
    opposite = graph.weights[("opposite", "c1")][:, :, 1, 1]  # (6 targets, 6 sources)
    assert np.allclose(opposite, np.roll(np.eye(6), 3, axis=1))  # each copy reads the hue 180 deg from its own
    assert np.allclose(graph.weights[("any", "c1")][0, :, 1, 1], -2) and np.allclose(graph.weights[("any", "l1")][0, :, 1, 1], 1)
    with pytest.raises(SpecError) as info:
        parse_spec(text.replace("every: true, excite: -2", "every: true, width_deg: 3"), "e.yaml")
    assert "every: reads all units alike" in info.value.message and str(info.value.location).startswith("e.yaml:")
    with pytest.raises(SpecError):
        parse_spec(HUES.replace("axis: hue\n", "axis: hue\n    period: 180\n"))


def test_a_single_copy_is_read_alike_by_every_rotated_copy():
    text = HUES + """  - {name: blob, layer: conv2d1, inputs: [{from: colour, tuning: {every: true}}]}
  - name: sides
    layer: conv2d2
    orientations: 8
    period: 360
    inputs: [{from: blob, region: {side: top}}]
"""
    w = build_graph(parse_spec(text)).weights[("sides", "blob")][:, 0]  # (8 copies, 3, 3)
    assert np.allclose(np.rot90(w[0]), w[2])  # the copy at 90 deg: the same weights, turned a quarter counter-clockwise
    assert np.allclose(w.sum(axis=(1, 2)), 1.0)  # no copy loses its input to a tuning mismatch


@pytest.mark.parametrize("name, expectations", [("high_low_frequency.yaml", 80), ("black_and_white.yaml", 13),
                                                ("colour_contrast.yaml", 29), ("boundaries.yaml", 178)])
def test_the_shipped_early_vision_specs_pass_their_checks(name, expectations):
    rows, *_ = verify_spec(load_spec(SPECS / name))
    assert not _failed(rows) and len(rows) == expectations


def test_high_low_detectors_fail_when_the_sides_are_swapped(tmp_path):
    path = _broken(tmp_path, "high_low_frequency.yaml", "{from: high_frequency, region: {side: top}, gain: 1.0}",
                   "{from: high_frequency, region: {side: bottom}, gain: 2.0}")
    failed = _failed(verify_spec(load_spec(path))[0])
    assert any("preferred - designed" in f for f in failed) or any("strongest uniform field" in f for f in failed)


def test_black_and_white_fails_without_inhibiting_every_colour_unit(tmp_path):
    path = _broken(tmp_path, "black_and_white.yaml", "tuning: {every: true}, gain: -3.0", "tuning: {excite: 1.0, width_deg: 1}, gain: -3.0")
    failed = _failed(verify_spec(load_spec(path))[0])  # only the red unit inhibits now: the other hues get through
    assert failed and not any("to red" in f for f in failed)


def test_colour_contrast_fails_when_the_far_side_reads_the_same_hue(tmp_path):
    path = _broken(tmp_path, "colour_contrast.yaml", "{from: colour_1, region: {side: right}, turn: 180, tuning",
                   "{from: colour_1, region: {side: right}, turn: 0, tuning")
    assert _failed(verify_spec(load_spec(path))[0])


@pytest.mark.parametrize("spec, layer, family", [("high_low_frequency.yaml", "mixed3a", "high-low"),
                                                 ("black_and_white.yaml", "mixed3a", "black-and-white"),
                                                 ("colour_contrast.yaml", "conv2d2", "colour-contrast")])
def test_find_lists_exactly_the_designed_units_of_each_family(tmp_path, spec, layer, family):
    out = tmp_path / "find"
    assert main(["find", layer, "--spec", str(SPECS / spec), "--family", family, "-o", str(out)]) == 0
    found = {u["channel"] for u in json.loads((out / "find.json").read_text())["members"]}
    build = load_spec(SPECS / spec)
    from synthcircuits.compile import compile_spec

    designed = {u.channel for u in compile_spec(build).units if u.layer == layer and u.kind == family.replace("-", "_").replace(
        "high_low", "high_low_frequency")}
    assert found == designed and designed


def test_boundaries_fail_when_the_opposite_orientation_does_not_inhibit(tmp_path):
    path = _broken(tmp_path, "boundaries.yaml", "inhibit: 1.0", "inhibit: 0.0")
    failed = _failed(verify_spec(load_spec(path))[0])
    assert any(f.startswith("the opposite orientation inhibits:") for f in failed)


def test_convex_boundaries_fail_when_their_flanks_bend_the_wrong_way(tmp_path):
    text = (SPECS / "boundaries.yaml").read_text()
    convex = text[text.index("  - name: convex_boundary"):text.index("  - name: concave_boundary")]
    path = _broken(tmp_path, "boundaries.yaml", convex, convex.replace("y: 0.75", "y: -0.75"))
    assert "convex: answer to convex" in " ".join(_failed(verify_spec(load_spec(path))[0]))


def test_find_boundary_lists_the_designed_boundary_units_and_no_cue_alone(tmp_path):
    out = tmp_path / "find"
    assert main(["find", "mixed3b", "--spec", str(SPECS / "boundaries.yaml"), "--family", "boundary", "-o", str(out)]) == 0
    found = {u["channel"] for u in json.loads((out / "find.json").read_text())["units"] if u["member"]}
    assert found == set(range(320, 336))  # the 16 designed units, in the 5x5 branch
    out = tmp_path / "find3a"  # in mixed3a each cue is its own family: none answers all three
    assert main(["find", "mixed3a", "--spec", str(SPECS / "boundaries.yaml"), "--family", "boundary", "-o", str(out)]) == 0
    assert not [u for u in json.loads((out / "find.json").read_text())["units"] if u["member"]]


def test_compare_with_the_boundary_sweep_finds_the_unit_the_rotation_points_to(tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", str(SPECS / "high_low_frequency.yaml"), str(SPECS / "high_low_frequency.yaml"), "--sweep", "boundary",
                 "--rotate-b", "45", "-o", str(out)]) == 0
    units = json.loads((out / "compare.json").read_text())["units"]
    order = ["mixed3a:110", "mixed3a:180", "mixed3a:153", "mixed3a:106", "mixed3a:112", "mixed3a:186", "mixed3a:132", "mixed3a:136"]
    # B sees every stimulus turned 45 deg further: the copy 45 deg on from A's unit answers B's sweep as A's unit answers A's
    assert [u["best_match"] for u in units] == [order[(k + 1) % 8] for k in range(8)]
    assert main(["compare", str(SPECS / "high_low_frequency.yaml"), str(SPECS / "high_low_frequency.yaml"), "--sweep", "hue",
                 "--geometry", "-o", str(out)]) == 2


def test_compare_with_the_cue_sweep_pairs_boundary_units_of_the_same_turn(tmp_path):
    from synthcircuits.compile import compile_spec
    from synthcircuits.language import load_spec

    built = compile_spec(load_spec(SPECS / "boundaries.yaml"))
    convex = [str(u.address) for u in built.units if u.family == "convex_boundary"]
    out = tmp_path / "cmp"
    assert main(["compare", str(SPECS / "boundaries.yaml"), str(SPECS / "boundaries.yaml"), "--sweep", "cue", "--units", ",".join(convex),
                 "--rotate-b", "45", "-o", str(out)]) == 0
    units = json.loads((out / "compare.json").read_text())["units"]
    # B's stimuli are turned 45 deg on: each unit's best match answers at its orientation + 45 (convex or concave alike)
    turned = {str(u.address): u.orientation for u in built.units if "boundary" in u.family}
    for row in units:
        assert (turned[row["best_match"]] - turned[row["unit"]]) % 360 == pytest.approx(45.0), row
