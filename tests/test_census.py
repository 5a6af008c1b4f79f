"""The census: the family table, the battery's features, classification, and whole layers of
compiled specs (labelled networks: the ground truth) and traced networks through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from synthcircuits.census.battery import BATTERY, KINDS, KindResponses, LayerResponses, Scale
from synthcircuits.census.classify import classify_units
from synthcircuits.census.features import FEATURES, unit_features
from synthcircuits.cli import main
from synthcircuits.language.schema import SPEC_SCHEMA
from synthcircuits.taxonomy import ARTICLE_SHARES, FAMILIES_BY_NAME, FAMILY_TABLE, OTHER, Condition

SPECS = Path(__file__).resolve().parents[1] / "specs"
CURVE_SPEC = SPECS / "curve_circuit.yaml"
CURVE_LAYERS = "conv2d0,conv2d1,conv2d2,mixed3a,mixed3b"


def fake_responses(units: int, seed: int = 0, field_px: int = 59) -> LayerResponses:
    rng = np.random.default_rng(seed)
    out = LayerResponses("mixed3a", Scale(field_px))
    for kind in BATTERY:
        grid = kind.grid(out.scale)
        rows = len(next(iter(grid.values())))
        out.kinds[kind.name] = KindResponses(grid, rng.random((rows, units)))
    return out


# -- the table --------------------------------------------------------------------------------


def test_every_rule_reads_features_the_battery_measures_and_every_family_draws_battery_stimuli():
    features = unit_features(fake_responses(5))
    assert set(features) == set(FEATURES) - {"battery_reach"}  # that one needs --images
    for family in FAMILY_TABLE:
        for condition in family.rule:
            assert condition.feature in FEATURES, (family.name, condition)
        assert set(family.numbers) <= set(FEATURES), family.name
        assert family.stimuli and set(family.stimuli) <= set(KINDS), family.name
    assert all(v.shape == (5,) for v in features.values())


def test_the_articles_shares_name_table_rows_and_cover_most_of_each_layer():
    for layer, rows in ARTICLE_SHARES.items():
        assert 0.85 <= sum(r.share for r in rows) <= 1.0, layer  # the articles list their larger families
        for r in rows:
            assert r.family is None or r.family == OTHER or r.family in FAMILIES_BY_NAME, r


def test_the_spec_schema_offers_exactly_the_table_as_kinds():
    family = SPEC_SCHEMA["properties"]["families"]["items"]
    assert family["properties"]["kind"]["enum"] == [f.name for f in FAMILY_TABLE]


def test_a_condition_reads_its_text_and_measures_its_margin():
    c = Condition.parse("arc_echo <= 0.3")
    assert (c.feature, c.op, c.value) == ("arc_echo", "<=", 0.3) and str(c) == "arc_echo <= 0.3"
    assert c.holds(0.3) and not c.holds(0.31) and not c.holds(float("nan"))
    assert c.margin(0.15) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="feature >= number"):
        Condition.parse("arc_echo < 0.3")


# -- classification ----------------------------------------------------------------------------


def classify(**columns):
    features = {name: np.zeros(4) for name in FEATURES}
    features["peak"] = np.array([0.0, 0.1, 10.0, 10.0])
    for name, values in columns.items():
        features[name] = np.asarray(values, dtype=float)
    return classify_units(features, [f"u{k}" for k in range(4)], "mixed3b", range(4), [None] * 4, 91)


def test_silent_and_weak_units_are_other_and_say_why():
    rows = classify()
    assert [r.family for r in rows[:2]] == [OTHER, OTHER]
    assert rows[0].note.startswith("silent") and rows[1].note.startswith("weak")


def test_the_first_family_whose_rule_holds_wins_and_a_miss_names_the_nearest():
    curve = dict(drive_arcs=[1, 1, 1, 1], standing_arcs=[1, 1, 1, 1], arc_echo=[0, 0, 0.0, 0.4], curve_line=[9, 9, 9, 1.5], arc_width=[50] * 4)
    rows = classify(**curve)
    assert rows[2].family == "curve" and rows[2].confidence == pytest.approx(1.0)
    assert rows[2].numbers["arc_echo"] == 0.0
    assert rows[3].family == "early_curve"  # has an echo: not a curve, but an early curve
    rows = classify(**dict(curve, curve_line=[9, 9, 9, 1.2]))
    assert rows[3].family == OTHER and "nearest" in rows[3].note and "curve_line >= 1.3" in rows[3].note


def test_a_family_is_only_named_at_its_receptive_field_sizes():
    features = {name: np.zeros(1) for name in FEATURES}
    features.update(peak=np.ones(1), drive_gratings=np.ones(1), phase_modulation=np.ones(1), grating_selectivity=np.ones(1))
    at = lambda px: classify_units(features, ["u"], "l", [0], [None], px)[0].family  # noqa: E731
    assert at(7) == "gabor" and at(91) == "gabor_texture"


# -- whole layers through the CLI ------------------------------------------------------------------


@pytest.fixture(scope="module")
def curve_census(tmp_path_factory):
    out = tmp_path_factory.mktemp("census") / "curves"
    assert main(["census", CURVE_LAYERS, "--spec", str(CURVE_SPEC), "-o", str(out)]) == 0
    return out


def test_the_census_of_the_compiled_curve_circuit_recovers_every_designed_family(curve_census):
    data = json.loads((curve_census / "census.json").read_text())
    recovered = {}
    for layer in data["layers"]:
        for row in layer["recovery"]["designed"]:
            recovered[(layer["layer"], row["kind"])] = row["recovered"] / row["units"]
            assert row["recovered"] / row["units"] >= 0.95, (layer["layer"], row)
        assert layer["recovery"]["undesigned_claimed"] <= 0.05 * max(layer["recovery"]["undesigned"], 1)
    assert set(recovered) == {("conv2d0", "gabor"), ("conv2d1", "complex_gabor"), ("conv2d2", "line"), ("conv2d2", "tiny_curve"),
                              ("mixed3a", "early_curve"), ("mixed3a", "line"), ("mixed3b", "curve")}


def test_the_census_writes_its_tables_rows_sheets_and_page(curve_census):
    data = json.loads((curve_census / "census.json").read_text())
    layers = {layer["layer"]: layer for layer in data["layers"]}
    assert layers["conv2d2"]["counterpart"] == "conv2d2" and layers["mixed3b"]["counterpart"] is None
    shares = {r["family"]: r for r in layers["mixed3a"]["shares"]}
    assert shares["early_curve"]["count"] == 16 and shares["early_curve"]["articles"] == pytest.approx(0.04)
    assert shares[""]["articles_name"] == "line misc." or any(r["articles_name"] == "repeating patterns" for r in layers["mixed3a"]["shares"])
    table = pq.read_table(curve_census / "census.parquet").to_pandas()
    assert len(table) == 64 + 64 + 192 + 256 + 480 and {"family", "confidence", "arc_echo", "peak"} <= set(table.columns)
    curves = table[(table.layer == "mixed3b") & (table.family == "curve")]
    assert sorted(curves.channel) == [324, 330, 340, 342, 343, 349, 379, 385, 388, 406]
    assert (curves.arc_echo <= 0.15).all()
    sheet = curve_census / layers["mixed3b"]["sheets"]["curve"]
    assert Image.open(sheet).size[1] > 10 * 72  # a row per curve unit
    page = (curve_census / "index.html").read_text()
    assert "Census of" in page and layers["mixed3b"]["sheets"]["curve"] in page
    assert "built as" in (curve_census / "census.md").read_text()


def test_the_census_page_and_its_report_page_open_in_a_browser_whole(curve_census, tmp_path):
    from browser import assert_page_whole

    dom = assert_page_whole(curve_census / "index.html", tmp_path / "profile")
    assert dom.count("<img ") == 7  # a sheet per designed family and layer
    out = tmp_path / "report"
    assert main(["report", str(SPECS / "lines_from_gabors.yaml"), "-o", str(out), "--steps", "2", "--size", "32", "--units", "conv2d2:0",
                 "--census", str(curve_census)]) == 0
    dom = assert_page_whole(out / "census.html", tmp_path / "profile")
    assert "census/index.html" in dom and "early_curve" in dom
    assert_page_whole(out / "census" / "index.html", tmp_path / "profile")
    assert "census.html" in (out / "index.html").read_text()


def test_a_spec_that_says_its_lines_are_curves_is_caught(tmp_path):
    text = (SPECS / "lines_from_gabors.yaml").read_text().replace("  - name: line\n", "  - name: line\n    kind: tiny_curve\n")
    spec = tmp_path / "mislabelled.yaml"
    spec.write_text(text)
    assert main(["census", "conv2d2", "--spec", str(spec), "-o", str(tmp_path / "out")]) == 0
    (layer,) = json.loads((tmp_path / "out" / "census.json").read_text())["layers"]
    (row,) = layer["recovery"]["designed"]
    assert row["kind"] == "tiny_curve" and row["recovered"] == 0 and row["elsewhere"] == {"line": 8}


def test_a_spec_kind_that_names_no_family_is_refused_where_it_is_written(tmp_path, capsys):
    text = (SPECS / "lines_from_gabors.yaml").read_text().replace("  - name: line\n", "  - name: line\n    kind: squiggle\n")
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    assert main(["census", "conv2d2", "--spec", str(spec), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:" in err and "squiggle" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["nolayer"], "has no layer 'nolayer'"),
    ([" , "], "no layer named"),
    (["softmax2"], "have no receptive field"),
])
def test_bad_layers_exit_2_with_one_line_and_write_nothing(args, message, safetensors_weights_file, tmp_path, capsys):
    assert main(["census", *args, "--weights", str(safetensors_weights_file), "-o", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_census_with_images_puts_dataset_crops_on_the_sheets_and_resumes(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for k in range(6):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    out = tmp_path / "out"
    args = ["census", "mixed3b", "--spec", str(CURVE_SPEC), "-o", str(out), "--images", str(folder)]
    assert main(args) == 0
    table = pq.read_table(out / "census.parquet").to_pandas()
    curves = table[table.family == "curve"]
    assert curves.battery_reach.notna().all() and (curves.battery_reach > 0).all()
    assert json.loads((out / "census.json").read_text())["images"] == 6
    with_crops = Image.open(out / "sheets" / "mixed3b" / "curve.png").size[0]
    shards = sorted((out / "examples" / "shards").glob("*.npz"))
    assert shards
    stamp = [p.stat().st_mtime_ns for p in shards]
    assert main(args) == 0  # the second run reads the shards back: no shard is rewritten
    assert [p.stat().st_mtime_ns for p in shards] == stamp
    assert main(["census", "mixed3b", "--spec", str(CURVE_SPEC), "-o", str(tmp_path / "plain")]) == 0
    assert Image.open(tmp_path / "plain" / "sheets" / "mixed3b" / "curve.png").size[0] < with_crops  # three crop columns


def test_census_with_vis_steps_puts_feature_visualisations_on_the_sheets(tmp_path):
    assert main(["census", "mixed3b", "--spec", str(CURVE_SPEC), "-o", str(tmp_path / "vis"), "--vis-steps", "2"]) == 0
    assert main(["census", "mixed3b", "--spec", str(CURVE_SPEC), "-o", str(tmp_path / "plain")]) == 0
    width = lambda p: Image.open(p / "sheets" / "mixed3b" / "curve.png").size[0]  # noqa: E731
    assert width(tmp_path / "vis") == width(tmp_path / "plain") + 72


@pytest.fixture(scope="module")
def resnet_census(tmp_path_factory):
    from synthcircuits.models import build_model, save_safetensors, weights_metadata

    folder = tmp_path_factory.mktemp("r18")
    model = build_model("torchvision:resnet18", seed=4)
    weights = save_safetensors(model.state_dict(), folder / "r18.safetensors", weights_metadata(model))
    assert main(["census", "layer1,layer2", "--weights", str(weights), "-o", str(folder / "census")]) == 0
    return folder / "census"


def test_census_runs_on_a_traced_torchvision_network(resnet_census):
    layers = json.loads((resnet_census / "census.json").read_text())["layers"]
    assert [(layer["layer"], layer["count"], layer["counterpart"]) for layer in layers] == [("layer1", 64, None), ("layer2", 128, None)]
    for layer in layers:
        assert "recovery" not in layer
        assert sum(r["count"] for r in layer["shares"] if r["count"] is not None) == layer["count"]
        assert math.isclose(sum(r["share"] for r in layer["shares"] if r["share"] is not None), 1.0)


def test_universality_pairs_layers_by_receptive_field_and_sets_shares_side_by_side(curve_census, resnet_census, tmp_path):
    out = tmp_path / "u"
    assert main(["universality", str(curve_census), str(resnet_census), "--names", "compiled,resnet", "-o", str(out)]) == 0
    data = json.loads((out / "universality.json").read_text())
    pairs = [tuple(x["layer"] for x in p["layers"]) for p in data["pairings"]]
    # receptive fields: conv2d0 7, conv2d1 11, conv2d2 19, mixed3a 59, mixed3b 91 px; layer1 43, layer2 99 px
    assert pairs == [("conv2d0", "layer1"), ("conv2d1", "layer1"), ("conv2d2", "layer1"), ("mixed3a", "layer1"), ("mixed3b", "layer2")]
    assert [p["comparable"] for p in data["pairings"]] == [False, False, False, True, True]
    last = data["pairings"][-1]
    curve = next(f for f in last["families"] if f["family"] == "curve")
    census = json.loads((resnet_census / "census.json").read_text())
    in_layer2 = sum(u["family"] == "curve" for u in census["layers"][1]["units"])
    assert curve["counts"] == [10, in_layer2] and curve["shares"][0] == pytest.approx(10 / 480)
    picture = Image.open(out / last["examples"])
    assert picture.size[1] >= 18 + len([f for f in last["families"] if f["family"] != OTHER]) * 86
    assert "mixed3b" in (out / "index.html").read_text() and "comparable depth" in (out / "universality.md").read_text()


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_text("{not json"), "not JSON"),
    (lambda p: p.write_text(json.dumps({"format": 7})), "not a census.json of format 1"),
    (lambda p: p.write_text(json.dumps({"format": 1, "layers": [{"layer": "x"}]})), "a field is missing or malformed"),
    (lambda p: p.write_text(json.dumps({"format": 1, "layers": [{"layer": "x", "field_px": 10**9, "centre": [1, 1], "window": [0, 1],
                                                              "units": []}]})), "receptive field of"),
])
def test_universality_refuses_a_bad_census_naming_it(damage, message, curve_census, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    damage(bad / "census.json")
    assert main(["universality", str(curve_census), str(bad), "-o", str(tmp_path / "u")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(bad / "census.json") in err and not (tmp_path / "u").exists()


def test_universality_needs_two_distinctly_named_censuses(curve_census, tmp_path, capsys):
    assert main(["universality", str(curve_census), "-o", str(tmp_path / "u")]) == 2
    assert main(["universality", str(curve_census), str(curve_census), "-o", str(tmp_path / "u")]) == 2
    assert "same network name" in capsys.readouterr().err and not (tmp_path / "u").exists()


def test_find_reads_any_family_of_the_table_and_finds_the_early_curves_its_curve_sweep_misses(tmp_path):
    out = tmp_path / "find"
    assert main(["find", "mixed3a", "--spec", str(CURVE_SPEC), "--family", "early_curve", "-o", str(out)]) == 0
    data = json.loads((out / "find.json").read_text())
    assert data["family"] == "early_curve" and "arc_echo <= 0.6" in data["rule"]
    designed = {92, 145, 65, 95, 163, 66, 71, 171, 67, 147, 68, 189, 137, 72, 81, 104}
    assert {u["channel"] for u in data["members"]} == designed
    assert (out / "find.png").is_file()
    assert main(["find", "mixed3a", "--spec", str(CURVE_SPEC), "--family", "curves", "-o", str(tmp_path / "old")]) == 0
    old = json.loads((tmp_path / "old" / "find.json").read_text())
    assert not {u["channel"] for u in old["units"] if u["member"]} & designed  # the tuned curve sweep's rule: 3b-like curves only


def test_a_compact_build_is_censused_like_its_inceptionv1_build(tmp_path):
    # the compact build holds only the spec's units: no silent channels dilute the layer, so a weak
    # floor must not depend on them (mixed3a's lines answer a quarter of its early curves' peak)
    weights = tmp_path / "compact.safetensors"
    assert main(["build", str(CURVE_SPEC), "--target", "compact", "-o", str(weights)]) == 0
    assert main(["census", "mixed3a,mixed3b", "--weights", str(weights), "-o", str(tmp_path / "out")]) == 0
    for layer in json.loads((tmp_path / "out" / "census.json").read_text())["layers"]:
        assert layer["recovery"]["undesigned"] == 0
        assert all(r["recovered"] == r["units"] for r in layer["recovery"]["designed"]), layer["recovery"]
