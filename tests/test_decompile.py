"""Decompiling: the compiled curve circuit's mixed3b curves come back as the rules that built
them, the draft rebuilds units that match, and bad requests are refused."""

import json
from pathlib import Path

import numpy as np
import pytest

from synthcircuits.cli import main
from synthcircuits.compile import compile_spec
from synthcircuits.models import build_model, save_safetensors
from synthcircuits.language import load_spec

ROOT = Path(__file__).parent.parent
CURVES = ROOT / "specs" / "curve_circuit.yaml"
TEN_CURVES = "3b:342,3b:388,3b:324,3b:340,3b:330,3b:349,3b:379,3b:406,3b:385,3b:343"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("decompile") / "curves.safetensors"
    compile_spec(load_spec(CURVES)).save(path)
    return path


@pytest.fixture(scope="module")
def decompiled(compiled, tmp_path_factory):
    out = tmp_path_factory.mktemp("draft")
    assert main(["decompile", "--weights", str(compiled), "--units", TEN_CURVES, "-o", str(out / "draft.yaml"),
                 "--report", str(out / "report"), "--vis-steps", "2"]) == 0
    return out


def spec_rule(spec_path, family, source):
    return next(r for r in load_spec(spec_path).family(family).inputs if r.source == source)


def spec_table(spec_path, family, source):
    return spec_rule(spec_path, family, source).tuning.table


def test_the_curve_circuit_decompiles_to_the_rule_that_built_it(decompiled):
    fits = json.loads((decompiled / "draft.json").read_text())
    curves = next(r for r in fits["rules"] if r["family"] == "curve")
    designed_rule = spec_rule(CURVES, "curve", "early_curve")
    [part] = curves["parts"]
    assert part["spatial"] == designed_rule.spatial == "along_arc"
    assert part["params"]["radius"] == designed_rule.spatial_params["radius"]
    assert len(curves["units"]) == 16 and curves["explained"] > 0.9
    degrees, fitted = np.array([a for a, _ in part["table"]]), np.array([w for _, w in part["table"]])
    angles, weights = zip(*spec_table(CURVES, "curve", "early_curve"))
    designed = np.interp(degrees, angles, weights)
    assert np.corrcoef(fitted, designed)[0, 1] >= 0.95
    assert fitted[0] > 0.5 and fitted[-1] < -0.5  # aligned early curves excite, opposite ones inhibit


def test_the_rebuilt_curves_match_the_originals(decompiled):
    trip = json.loads((decompiled / "draft.json").read_text())["round_trip"]
    assert len(trip) == 10
    for row in trip:
        assert row["tuning_r"] >= 0.95, row
        assert row["preferred_difference"] <= 5.0, row


def test_the_draft_is_a_spec_the_tools_accept(decompiled, capsys):
    draft = decompiled / "draft.yaml"
    assert main(["check-spec", str(draft)]) == 0
    assert main(["verify", str(draft)]) == 0
    assert main(["build", str(draft), "-o", str(decompiled / "rebuilt.safetensors")]) == 0
    page = (decompiled / "report" / "index.html").read_text()
    assert "Round trip" in page and page.count("<tr>") == 11
    assert (decompiled / "report" / "assets" / "profiles.png").stat().st_size > 0
    assert len(list((decompiled / "report" / "assets").glob("vis_*.png"))) == 10


def test_bvlc_googlenet_curve_detectors_decompile_to_a_spec_that_builds_and_verifies(bvlc_weights, tmp_path):
    draft = tmp_path / "bvlc.yaml"
    assert main(["decompile", "--weights", str(bvlc_weights), "--units", "inception_3b", "-o", str(draft)]) == 0
    fits = json.loads(draft.with_suffix(".json").read_text())
    curves = next(r for r in fits["rules"] if r["family"] == "curve")
    table = dict((a, w) for a, w in curves["parts"][0]["table"])
    assert table[0.0] > 0 and table[180.0] < 0  # as the articles' hand-built profile: positive near 0, negative near 180
    assert all(row["preferred_difference"] <= 5 for row in fits["round_trip"])
    assert main(["verify", str(draft)]) == 0


def test_bvlc_googlenet_colour_contrast_units_read_a_hue_on_one_side_and_its_opposite_on_the_other(bvlc_weights, tmp_path):
    draft = tmp_path / "bvlc_colour.yaml"
    assert main(["decompile", "--weights", str(bvlc_weights), "--family", "colour-contrast", "--units", "inception_3a",
                 "-o", str(draft)]) == 0
    [colour] = json.loads(draft.with_suffix(".json").read_text())["rules"]
    tables = {p["params"].get("side"): dict((a, w) for a, w in p["table"]) for p in colour["parts"]}
    # the opposite hue inhibits on the left and excites on the right, where the same hue does the reverse
    assert tables["left"][180.0] < -0.5 < 0.5 < tables["right"][180.0]
    trip = json.loads(draft.with_suffix(".json").read_text())["round_trip"]
    assert len(trip) == 10 and sum(row["preferred_difference"] <= 15 for row in trip) >= 5  # measured: 6 of 10
    assert main(["build", str(draft), "-o", str(tmp_path / "rebuilt.safetensors")]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--units", "3b:999"], "480 channels"),
    (["--units", "3b:379,3a:92"], "one layer"),
    (["--units", "3b:379", "--inputs", "conv2d2"], "does not feed"),
    (["--units", "conv2d0:1"], "reads pixels"),
    (["--units", "3b:430"], "pool branch"),
    (["--units", "nowhere"], "no layer"),
    (["--units", "3b:379", "--family", "dogs"], "not 'dogs'"),
    (["--units", "3b:0", "--family", "high-low"], "none of the units answers a high-low frequency boundary"),
])
def test_bad_requests_exit_2_without_a_draft(compiled, tmp_path, capsys, argv, message):
    draft = tmp_path / "d.yaml"
    code = main(["decompile", "--weights", str(compiled), *argv, "-o", str(draft)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not draft.exists() and not draft.with_suffix(".json").exists()


def test_weights_of_another_architecture_are_refused(tmp_path, capsys):
    weights = save_safetensors(build_model("torchvision:resnet18", seed=0).state_dict(), tmp_path / "r.safetensors")
    code = main(["decompile", "--weights", str(weights), "--units", "layer2.0.conv1:1", "-o", str(tmp_path / "d.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "GoogLeNet layouts" in err and not (tmp_path / "d.yaml").exists(), err


SMALL = ROOT / "specs" / "small_curves.yaml"


def test_spread_is_the_smallest_arc_holding_every_answer():
    from synthcircuits.probe.geometry_sweep import Robustness

    r = Robustness("u", 0.0, {"standard": 355.0, "a": 10.0, "b": 2.0, "c": float("nan")})
    assert r.spread == pytest.approx(15.0) and r.worst == pytest.approx(10.0) and r.worst_geometry == "a"


def test_local_shape_error_is_the_turn_a_shift_along_the_tangent_forces():
    from synthcircuits.probe.geometry_sweep import GEOMETRIES, Robustness, StimulusGeometry, local_shape_error

    assert local_shape_error(90.0, StimulusGeometry("standard")) == 0.0
    # convex side up: a shift right runs along the tangent, a shift up across it
    assert local_shape_error(90.0, StimulusGeometry("r", offset=(6.0, 0.0))) == pytest.approx(np.rad2deg(np.arcsin(6 / 32)), abs=0.05)
    assert local_shape_error(90.0, StimulusGeometry("u", offset=(0.0, -6.0))) == pytest.approx(0.0, abs=1e-9)
    assert local_shape_error(90.0, StimulusGeometry("r", radius=15.0, offset=(6.0, 0.0))) > 20
    r = Robustness("u", 45.0, {g.name: 45.0 for g in GEOMETRIES})
    assert r.local_shape_worst == pytest.approx(16.43, abs=0.01)  # radius 20 shifted 5.7 px along the tangent


def test_verify_sweeps_stimulus_geometry_and_checks_hold_it(tmp_path, capsys):
    text = SMALL.read_text().split("\nchecks:")[0] + "\n"  # its families, with a check of our own
    assert "checks:" not in text
    checks = ("checks:\n  - name: robust\n    units: early_curve\n    stimulus: radial_tuning\n"
              "    expect: {preferred_orientation_across_geometry_within_deg: LIMIT}\n")
    for limit, code in ((180, 0), (1, 1)):
        spec = tmp_path / f"small_{limit}.yaml"
        spec.write_text(text + checks.replace("LIMIT", str(limit)))
        out = tmp_path / f"v{limit}.json"
        assert main(["verify", str(spec), "--geometry", "--json", str(out)]) == code
        robust = json.loads(out.read_text())["geometry"]
        assert len(robust) == 8 and all(len(r["preferred"]) == 16 for r in robust)
        assert all(0 <= r["worst"] <= 180 and r["spread"] >= 0 for r in robust)
    shown = capsys.readouterr().out
    assert "worst error (16 geometries)" in shown and "up to 6 px off centre" in shown


def test_compare_sweeps_geometry_for_both_models(compiled, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", str(CURVES), str(compiled), "--units", "3b:379,3b:385", "--geometry", "-o", str(out)]) == 0
    pairs = json.loads((out / "compare.json").read_text())["geometry"]
    assert len(pairs) == 2
    for pair in pairs:  # a model against its own build: the same numbers on both sides
        assert pair["a"]["worst"] == pytest.approx(pair["b"]["worst"], abs=1e-6)


def test_report_links_the_round_trip(decompiled, compiled, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(compiled), "--units", "mixed3b:379", "--steps", "2", "-o", str(out),
                 "--decompiled", str(decompiled / "report")]) == 0
    assert "decompiled.html" in (out / "index.html").read_text()
    assert "decompiled/index.html" in (out / "decompiled.html").read_text()
    page = (out / "decompiled" / "index.html").read_text()
    assert all((out / "decompiled" / src).is_file() for src in __import__("re").findall(r"src=['\"]([^'\"]+)['\"]", page))
    assert main(["report", str(compiled), "--units", "mixed3b:379", "--steps", "2", "-o", str(tmp_path / "r2"),
                 "--decompiled", str(tmp_path)]) == 2


def _designed_units(spec_path, family):
    built = compile_spec(load_spec(spec_path))
    return built, ",".join(str(u.address) for u in built.units if u.family == family)


@pytest.mark.parametrize("spec_name, family, kind, sides", [
    ("high_low_frequency.yaml", "high_low_frequency", "high-low", {"top", "bottom"}),
    ("colour_contrast.yaml", "colour_contrast", "colour-contrast", {"left", "right"}),
])
def test_side_families_decompile_to_the_sides_that_built_them(tmp_path, spec_name, family, kind, sides):
    built, units = _designed_units(ROOT / "specs" / spec_name, family)
    weights = tmp_path / "w.safetensors"
    built.save(weights)
    draft = tmp_path / "draft.yaml"
    assert main(["decompile", "--weights", str(weights), "--family", kind, "--units", units, "-o", str(draft),
                 "--report", str(tmp_path / "report"), "--vis-steps", "0"]) == 0
    fits = json.loads(draft.with_suffix(".json").read_text())
    assert fits["family"] == kind and fits["rules"]
    for rule in fits["rules"]:
        assert {p["params"]["side"] for p in rule["parts"]} == sides and rule["explained"] > 0.99, rule
    for row in fits["round_trip"]:
        assert row["tuning_r"] > 0.999 and row["weight_r"] > 0.999 and row["preferred_difference"] < 1.0, row
    assert main(["verify", str(draft)]) == 0
    assert "region: {side:" in draft.read_text() and (tmp_path / "report" / "index.html").is_file()


def test_high_low_fit_reads_the_fine_input_on_its_designed_side(tmp_path):
    """The spec puts high frequency on top (+1) and below (-1): the fitted gains say the same, per input unit."""
    built, units = _designed_units(ROOT / "specs" / "high_low_frequency.yaml", "high_low_frequency")
    fine = next(u for u in built.units if u.family == "high_frequency")
    weights = tmp_path / "w.safetensors"
    built.save(weights)
    draft = tmp_path / "draft.yaml"
    assert main(["decompile", "--weights", str(weights), "--family", "high-low", "--units", "mixed3a", "-o", str(draft)]) == 0
    fits = json.loads(draft.with_suffix(".json").read_text())
    assert len(fits["round_trip"]) == 8  # `find`'s high-low test picks the designed units from the layer
    rule = next(r for r in fits["rules"] if r["units"] == [str(fine.address)])
    gains = {p["params"]["side"]: p["table"][0][1] for p in rule["parts"]}
    assert gains["top"] == pytest.approx(1.0, abs=1e-3) and gains["bottom"] == pytest.approx(-1.0, abs=1e-3)
