import json
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml

from synthcircuits.cli import main
from synthcircuits.compile import build_graph, compile_spec, compose, expanded_layer_weights
from synthcircuits.compile.lower import compact_index
from synthcircuits.models import capture, content_hash, load_model, read_weights, save_safetensors
from synthcircuits.layout import INCEPTIONV1
from synthcircuits.language import SPEC_SCHEMA, load_spec, parse_spec

from helpers import spec_weights_dense
from specs_for_tests import CURVES_IN_3B, LINES

SPECS = sorted(Path(__file__).parent.parent.joinpath("specs").glob("*.yaml"))


@pytest.mark.parametrize("text", [LINES, CURVES_IN_3B], ids=["lines", "curves_in_3b"])
def test_compile_then_expand_gives_back_the_spec_weights_exactly(text):
    build = compile_spec(parse_spec(text))
    for layer in build.graph.layers():
        expanded = expanded_layer_weights(build.state, INCEPTIONV1, layer)
        assert torch.equal(expanded, spec_weights_dense(build, layer)), layer


def test_units_in_the_3b_5x5_branch_read_through_bottleneck_pass_throughs():
    build = compile_spec(parse_spec(CURVES_IN_3B))
    (use,) = [b for b in build.bottlenecks if b.block == "mixed3b"]
    assert (use.branch, use.width, len(use.channels)) == ("5x5", 32, 8)  # 4 early curves + 4 passed-through lines
    bottleneck = build.state["mixed3b_5x5_bottleneck_pre_relu_conv.weight"][:, :, 0, 0]
    assert set(bottleneck.unique().tolist()) == {0.0, 1.0}  # non-negative pass-throughs the ReLU leaves unchanged
    assert bottleneck.sum() == 8 and (bottleneck.sum(1)[:8] == 1).all()
    # Unnamed units are zero.
    w = build.state["mixed3b_5x5_pre_relu_conv.weight"]
    named = [u.address.local for u in build.units if u.layer == "mixed3b"]
    others = [c for c in range(96) if c not in named]
    assert w[others].abs().sum() == 0 and w[named].abs().sum() > 0
    assert build.state["mixed3b_3x3_pre_relu_conv.weight"].abs().sum() == 0


CURVE_CIRCUIT = (Path(__file__).parent.parent / "specs" / "curve_circuit.yaml").read_text()


# The shipped curve circuit pins conv2d2 units to scattered natural channels: the compact
# build must keep their LRN neighbourhoods to give the same numbers.
@pytest.mark.parametrize("text", [LINES, CURVES_IN_3B, CURVE_CIRCUIT], ids=["lines", "curves_in_3b", "curve_circuit"])
def test_compact_build_behaves_like_the_inceptionv1_build(text, images):
    spec = parse_spec(text)
    full, compact = compile_spec(spec, "inceptionv1"), compile_spec(spec, "compact")
    layers = full.graph.layers()
    a = capture(full.model(), images, layers)
    b = capture(compact.model(), images, layers)
    index = compact_index(compact.graph)
    for u in full.units:
        x = a[u.layer][:, u.address.channel]
        y = b[u.layer][:, index[(u.family, u.index)]]
        torch.testing.assert_close(y, x, rtol=1e-4, atol=1e-3 * float(x.abs().max() + 1))
    assert any(a[l].abs().sum() > 0 for l in layers)


def test_same_spec_gives_bit_identical_weights_and_records_its_hash(tmp_path):
    spec = parse_spec(CURVES_IN_3B)
    one, two = compile_spec(spec), compile_spec(parse_spec(CURVES_IN_3B + "# a comment changes nothing\n"))
    assert content_hash(one.state) == content_hash(two.state)
    assert one.spec.content_hash == two.spec.content_hash
    other = parse_spec(CURVES_IN_3B.replace("radius: 2}", "radius: 2.5}"))
    assert other.content_hash != spec.content_hash
    path = one.save(tmp_path / "c.safetensors")
    meta = read_weights(path).metadata
    assert meta["synthcircuits.spec_hash"] == spec.content_hash
    assert json.loads(meta["synthcircuits.units"])[0]["address"] == "conv2d0:0"
    assert content_hash(load_model(path).state_dict()) == content_hash(one.state)


def test_compact_build_saves_and_loads_back_without_the_spec(tmp_path, images):
    build = compile_spec(parse_spec(LINES), "compact")
    path = build.save(tmp_path / "compact.safetensors")
    model = load_model(path)
    torch.testing.assert_close(capture(model, images, ["conv2d2"])["conv2d2"], capture(build.model(), images, ["conv2d2"])["conv2d2"])


def test_patching_a_base_changes_only_the_spec_units_and_claimed_bottleneck(random_inceptionv1, tmp_path):
    base = random_inceptionv1.state_dict()
    base_file = save_safetensors(base, tmp_path / "base.safetensors")
    text = f"""\
synthcircuits: 1
name: patch
base: {base_file}
bottleneck_channels: {{mixed3b_5x5: [30, 31]}}
families:
  - name: trained_early_curves
    layer: mixed3a
    keep: true
    units: [3a:147, 3a:189]
    orientations: [222.5, 267.5]
    period: 360
  - name: curve
    layer: mixed3b
    units: [3b:379]
    orientations: [243]
    period: 360
    bias: 0.5
    inputs:
      - from: trained_early_curves
        along_arc: {{radius: 2}}
        tuning: {{excite: 1, width_deg: 40}}
"""
    spec_file = tmp_path / "patch.yaml"
    spec_file.write_text(text)
    build = compile_spec(load_spec(spec_file))
    changed = {k for k in base if not torch.equal(base[k], build.state[k])}
    assert changed == {
        "mixed3b_5x5_pre_relu_conv.weight", "mixed3b_5x5_pre_relu_conv.bias",
        "mixed3b_5x5_bottleneck_pre_relu_conv.weight", "mixed3b_5x5_bottleneck_pre_relu_conv.bias",
    }
    w_new, w_old = build.state["mixed3b_5x5_pre_relu_conv.weight"], base["mixed3b_5x5_pre_relu_conv.weight"]
    assert torch.equal(torch.cat([w_new[:59], w_new[60:]]), torch.cat([w_old[:59], w_old[60:]]))
    assert build.state["mixed3b_5x5_pre_relu_conv.bias"][59] == 0.5
    bn_new, bn_old = build.state["mixed3b_5x5_bottleneck_pre_relu_conv.weight"], base["mixed3b_5x5_bottleneck_pre_relu_conv.weight"]
    assert torch.equal(bn_new[:30], bn_old[:30])
    assert bn_new[30, 147].item() == 1.0 and bn_new[31, 189].item() == 1.0 and bn_new[30:].abs().sum() == 2
    assert torch.equal(w_new[59][:30], torch.zeros(30, 5, 5)) and w_new[59][30:].abs().sum() > 0
    assert build.metadata()["synthcircuits.base_hash"] == content_hash(base)
    # Without the claim, the compiler refuses to overwrite trained bottleneck channels.
    spec_file.write_text(text.replace("bottleneck_channels: {mixed3b_5x5: [30, 31]}\n", ""))
    with pytest.raises(Exception, match="bottleneck_channels"):
        compile_spec(load_spec(spec_file))


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_shipped_specs_validate_against_the_json_schema_and_build_for_both_targets(path, tmp_path, safetensors_weights_file):
    as_json = json.loads(json.dumps(yaml.safe_load(path.read_text())))  # the document as JSON tools see it
    jsonschema.validate(as_json, SPEC_SCHEMA)
    patch = any(f.keep for f in load_spec(path).families)  # a patch of trained units: built on a base, never compact
    if patch:
        assert main(["build", str(path), "-o", str(tmp_path / "c.safetensors"), "--target", "compact"]) == 2
        assert main(["build", str(path), "-o", str(tmp_path / "c.safetensors")]) == 2  # no base given
    for target in ("inceptionv1",) if patch else ("inceptionv1", "compact"):
        out = tmp_path / f"{target}.safetensors"
        base = ["--base", str(safetensors_weights_file)] if patch else []
        assert main(["build", str(path), "-o", str(out), "--target", target, "--units-out", str(tmp_path / "u.json"), *base]) == 0
        assert load_model(out) is not None
        units = json.loads((tmp_path / "u.json").read_text())["units"]
        assert len(units) == load_spec(path).unit_count


def test_schema_command_writes_the_schema_editors_use(tmp_path):
    out = tmp_path / "schema.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == SPEC_SCHEMA
    jsonschema.Draft202012Validator.check_schema(SPEC_SCHEMA)


def test_graph_stage_can_be_inspected_and_printed():
    graph = build_graph(parse_spec(CURVES_IN_3B))
    table = graph.table()
    assert "early_curve" in table and "mixed3a" in table and "3x3" in table
    assert graph.weights[("curve", "early_curve")].shape == (4, 4, 5, 5)


def test_composed_expanded_weights_equal_two_linear_convs_in_a_row():
    torch.manual_seed(0)
    inner, outer = torch.randn(6, 4, 3, 3, dtype=torch.float64), torch.randn(5, 6, 5, 5, dtype=torch.float64)
    x = torch.randn(1, 4, 24, 24, dtype=torch.float64)
    sequential = torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, inner, padding=1), outer, padding=2)
    at_once = torch.nn.functional.conv2d(x, compose(outer, inner), padding=3)
    torch.testing.assert_close(sequential[..., 3:-3, 3:-3], at_once[..., 3:-3, 3:-3])


def test_compact_layers_are_as_wide_as_the_spec_while_inceptionv1_reports_overflow():
    wide = LINES.replace("  - name: cgabor\n    layer: conv2d1\n    orientations: 4\n", "  - name: cgabor\n    layer: conv2d1\n    orientations: 4\n    phases: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]\n")
    spec = parse_spec(wide, "wide.yaml")
    assert spec.family("cgabor").size == 72  # conv2d1 has 64 channels
    compact = compile_spec(spec, "compact")
    assert compact.compact_layers[1].out_channels == 72 and all(u.address is None for u in compact.units)
    with pytest.raises(Exception, match="conv2d1 has 64 channels; family 'cgabor' does not fit"):
        compile_spec(spec, "inceptionv1")
