import subprocess
import sys

import pytest

from synthcircuits.compile import compile_spec
from synthcircuits.language import SpecError, parse_spec

from specs_for_tests import LINES

GOOD_HEADER = "synthcircuits: 1\nname: t\nfamilies:\n"

# (spec text, expected "line:col", text the message must contain, text the hint must contain)
CASES = {
    "unknown family in a rule": (
        LINES.replace("- from: cgabor", "- from: cgabbor"), "21:9", "unknown family 'cgabbor'", "families: gabor, cgabor, line"),
    "orientation count that does not divide": (
        LINES.replace("    orientations: 4\n    bias: -1", "    orientations: 3\n    bias: -1"), "18:5",
        "orientation count does not divide", "multiple of 45"),
    "unit address outside the layer": (
        GOOD_HEADER + "  - name: c\n    layer: mixed3b\n    units: [mixed3b:480]\n", "6:13", "mixed3b has 480 channels", None),
    "unit in another layer": (
        GOOD_HEADER + "  - name: c\n    layer: mixed3b\n    units: [3a:100]\n", "6:13", "not in the family's layer mixed3b", None),
    "duplicate unit placement": (
        GOOD_HEADER + "  - name: a\n    layer: mixed3b\n    units: [3b:379]\n  - name: b\n    layer: mixed3b\n    units: [3b:379]\n",
        "9:13", "placed twice: by 'a' and 'b'", "one unit"),
    "kernel larger than the layer's conv": (
        LINES.replace("size: 5,", "size: 9,"), "8:22", "larger than conv2d0's 7x7 conv", "size <= 7"),
    "unknown key": (
        LINES.replace("    bias: -1\n", "    bais: -1\n"), "19:5", "unknown key 'bais'", "allowed here: name, layer"),
    "two spatial kinds": (
        GOOD_HEADER + "  - name: a\n    layer: conv2d0\n    kernel: {gabor: {size: 5, wavelength: 4, sigma: 1}, line: {size: 3, width: 1}}\n",
        "6:5", "give exactly one of gabor", None),
    "wrong version": (LINES.replace("synthcircuits: 1", "synthcircuits: 2"), "1:1", "1 was expected", "spec version 1"),
    "reading a non-adjacent layer": (
        LINES.replace("- from: cgabor", "- from: gabor"), "21:9", "conv2d2 reads conv2d1", "put a family in conv2d1"),
    "block family without a branch": (
        GOOD_HEADER + "  - name: a\n    layer: mixed3a\n", "4:5", "needs a branch", "branch: 1x1, 3x3 or 5x5"),
    "first layer without a kernel": (GOOD_HEADER + "  - name: a\n    layer: conv2d0\n", "4:5", "give it a kernel", None),
    "pool layer": (GOOD_HEADER + "  - name: a\n    layer: maxpool1\n", "5:5", "maxpool1 is a pool layer", None),
    "duplicate yaml key": (LINES.replace("name: t-lines\n", "name: t-lines\nname: again\n"), "3:1", "appears twice", "line 2"),
    "yaml syntax": (LINES.replace("[0, 180]", "[0, 180"), "8:11", "not valid YAML", None),
    "recursive yaml alias": ("x: &a [1, *a]\n" + LINES, "1:11", "would contain itself", "write the values out"),
    "pinned count": (
        GOOD_HEADER + "  - name: a\n    layer: mixed3b\n    orientations: 2\n    units: [3b:379]\n", "7:5", "has 2 units", None),
    "table beyond half period": (
        LINES.replace("tuning: {excite: 1.0, inhibit: 0.5, width_deg: 20}", "tuning: {table: {0: 1, 120: 0}}"), "23:18",
        "beyond 90", None),
    "zero without base": (LINES + "zero: [3b:379]\n", "24:1", "zero: is for patching trained weights", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_spec_errors_name_the_place_and_what_to_fix(name):
    text, where, message, hint = CASES[name]
    with pytest.raises(SpecError) as info:
        parse_spec(text, "bad.yaml")
    error = info.value
    assert str(error.location) == f"bad.yaml:{where}", str(error)
    assert message in error.message, str(error)
    if hint:
        assert hint in (error.hint or ""), str(error)


def test_bottleneck_overflow_names_block_branch_width_and_count():
    families = "".join(
        f"  - name: src{i}\n    layer: mixed3a\n    branch: 1x1\n    orientations: 8\n" for i in range(5)
    )
    inputs = "".join(f"      - {{from: src{i}, center: {{}}, tuning: {{excite: 1, width_deg: 360}}}}\n" for i in range(5))
    text = GOOD_HEADER + families + "  - name: curve\n    layer: mixed3b\n    branch: 5x5\n    inputs:\n" + inputs
    spec = parse_spec(text, "wide.yaml")
    with pytest.raises(SpecError) as info:
        compile_spec(spec)
    assert str(info.value.location) == "wide.yaml:24:5"  # the curve family, in mixed3b's 5x5 branch
    message = str(info.value)
    assert "mixed3b 5x5 branch" in message and "32-channel bottleneck" in message and "need 40 distinct inputs" in message


def test_cli_spec_error_exits_2_without_traceback_or_output(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(LINES.replace("- from: cgabor", "- from: nope"))
    out = tmp_path / "out.safetensors"
    for command in (["build", spec, "-o", out], ["check-spec", spec]):
        result = subprocess.run([sys.executable, "-m", "synthcircuits.cli", *map(str, command)], capture_output=True, text=True)
        assert result.returncode == 2, result.stderr
        assert f"{spec}:21:9: unknown family 'nope'" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [spec]
