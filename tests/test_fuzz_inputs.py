"""Property-based fuzzing of every command's inputs through the real CLI entry point, and the
memory a refused input may cost, measured in a subprocess.

Each example must either work (exit 0) or be refused (exit 2, one short message, no traceback,
nothing written); any other exception escapes `main` and fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.models import save_safetensors

SPECS = Path(__file__).resolve().parents[1] / "specs"
LINES_SPEC = (SPECS / "lines_from_gabors.yaml").read_text().split("\nchecks:")[0]  # its families, without its checks
EDIT_SPEC = "synthcircuits_edit: 1\nname: e\narchitecture: inceptionv1\nedits:\n  - scale: {units: [3b:379], factor: 2}\n  - clamp: {units: [3b:1], value: 0.5}\n"
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GIB_IN_KB = 1 << 20


def outcome(argv: list, folder: Path, capsys) -> int:
    """Run the CLI and hold it to the contract: 0, or 2 with a short message and nothing written."""
    before = set(folder.rglob("*"))
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if code != 0:
        lines = [line for line in captured.err.strip().splitlines() if line.strip() and "it/s]" not in line]
        assert code == 2, captured.err
        assert lines and lines[0].startswith("error: ") and len(lines) <= 6, captured.err
        assert set(folder.rglob("*")) == before, captured.err
    return code


# -- command-line values -----------------------------------------------------------------------

VALUES = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "0x10", "", " ", "1,2", "3,,", "٣", "1_000", "0", "-0", "4097", "16"]),
    st.text(max_size=10),
)
OPTIONS = [  # (command line before the option, option); every command here then fails fast on a missing file
    (["vis", "mixed3b:379", "--weights", "MISSING"], "--size"), (["vis", "mixed3b:379", "--weights", "MISSING"], "--steps"),
    (["vis", "mixed3b:379", "--weights", "MISSING"], "--seed"), (["vis", "mixed3b:379", "--weights", "MISSING"], "--thresholds"),
    (["report", "MISSING"], "--steps"), (["report", "MISSING"], "--size"), (["report", "MISSING"], "--units"),
    (["compare", "MISSING", "MISSING"], "--radius"), (["compare", "MISSING", "MISSING"], "--step"),
    (["compare", "MISSING", "MISSING"], "--rotate-b"), (["tuning", "MISSING", "--units", "3b:1"], "--radii"),
    (["tuning", "MISSING", "--units", "3b:1"], "--step"), (["weights", "diagram", "3b:1", "--weights", "MISSING"], "--threshold"),
    (["weights", "diagram", "3b:1", "--weights", "MISSING"], "--through"), (["probe", "--weights", "MISSING", "--layers", "conv2d0",
     "--input", "MISSING"], "--size"), (["export", "MISSING"], "--opset"), (["find", "conv2d0", "--weights", "MISSING"], "--limit"),
    (["find", "conv2d0", "--weights", "MISSING"], "--family"), (["layers"], "--arch"), (["build", "MISSING"], "--target"),
    (["weights", "fetch", "--url", "file:///MISSING"], "--timeout"), (["vis", "mixed3b:379", "--weights", "MISSING"], "-o"),
    (["verify", "MISSING"], "--json"), (["edit", "MISSING"], "--class-map"), (["probe", "--weights", "MISSING", "--input", "x"], "--layers"),
]
OUTPUT_FOR = {"vis": "-o", "tuning": "-o", "export": "-o", "probe": "-o", "build": "-o", "weights": "-o",
              "report": "-o", "compare": "-o", "find": "-o"}


@FUZZ
@given(choice=st.sampled_from(OPTIONS), value=VALUES)
def test_any_option_value_is_taken_or_refused_cleanly(capsys, choice, value):
    head, option = choice
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        argv = [str(folder / "missing.safetensors") if a == "MISSING" else a.replace("MISSING", str(folder / "missing")) for a in head]
        if option != "-o" and head[0] in OUTPUT_FOR:
            argv += [OUTPUT_FOR[head[0]], str(folder / "out" / "result")]
        argv.append(f"{option}={value}")
        outcome(argv, folder, capsys)


# -- mutated specs and edits -------------------------------------------------------------------

TOKENS = [".nan", ".inf", "-.inf", "1e308", "-1", "0", "999999999999", "''", "[", "]", "{", "*a", "&a", "!!python/object:os.system",
          "~", "true", "[1, 2, 3]", "{a: 1}", "mixed3b:99999", "conv2d0:-1", "'\\x00'", "\t", "- x", "? x", "%TAG", "@", "`", "|"]


@st.composite
def mutated(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["value", "insert", "delete", "duplicate", "indent"]))
        token = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=8)))
        if kind == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {token}"
        elif kind == "insert":
            lines.insert(i, token)
        elif kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        else:
            lines[i] = " " * draw(st.integers(0, 7)) + lines[i].lstrip()
    return "\n".join(lines) + "\n"


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("original", [LINES_SPEC, EDIT_SPEC], ids=["circuit spec", "edit spec"])
def test_mutated_specs_and_edits_are_checked_or_refused(capsys, original, data):
    text = data.draw(mutated(original))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "mutated.yaml"
        spec.write_text(text, encoding="utf-8", errors="surrogatepass")
        outcome(["check-spec", spec], Path(tmp), capsys)


# -- mutated weight files and images -----------------------------------------------------------

@pytest.fixture(scope="module")
def compact_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("compact") / "lines.safetensors"
    assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "--target", "compact", "-o", str(path)]) == 0
    return path


@FUZZ
@given(data=st.data())
def test_mutated_weight_files_load_or_are_refused(capsys, compact_file, data):
    raw = bytearray(compact_file.read_bytes())
    kind = data.draw(st.sampled_from(["flip", "truncate", "metadata"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, min(len(raw) - 1, 2000)))] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "mutated.safetensors"
        if kind == "metadata":
            from synthcircuits.models import read_weights

            weights = read_weights(compact_file)
            key = data.draw(st.sampled_from(sorted(weights.metadata) + ["synthcircuits.splice", "synthcircuits.side_paths", "synthcircuits.preprocessing"]))
            meta = {**weights.metadata, key: data.draw(st.one_of(st.sampled_from(
                ["", "{}", "[]", "null", "spliced", "compact", "inceptionv1", '[{"name": "conv2d0"}]', '{"mean": [1], "std": [0, 0, 0]}']),
                st.text(max_size=20)))}
            save_safetensors(weights.tensors, path, meta)
        else:
            path.write_bytes(bytes(raw))
        outcome(["weights", "info", path], folder, capsys)
        batch = _pixel_batch(folder)
        outcome(["probe", "--weights", path, "--layers", "conv2d0", "--input", batch, "-o", folder / "out" / "p.npz"], folder, capsys)


def _pixel_batch(folder: Path) -> Path:
    path = folder / "batch.npy"
    if not path.exists():
        np.save(path, np.full((1, 3, 32, 32), 0.5, dtype=np.float32))
    return path


@FUZZ
@given(data=st.data())
def test_mutated_images_are_read_or_refused(capsys, compact_file, data):
    mode = data.draw(st.sampled_from(["RGB", "L", "RGBA", "P", "CMYK", "I;16", "1", "LA"]))
    width, height = data.draw(st.integers(1, 80)), data.draw(st.integers(1, 80))
    suffix = data.draw(st.sampled_from([".png", ".jpg", ".bmp", ".gif", ".tif", ".webp"]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / f"image{suffix}"
        pixels = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, 255, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        image = image.convert("L").point(lambda v: v * 200, "I").convert("I;16") if mode == "I;16" else image.convert(mode)
        try:
            image.save(path)
        except (OSError, ValueError, KeyError):  # a format that cannot hold this mode: write junk instead
            path.write_bytes(b"\x89PNG\r\n\x1a\n" + pixels.tobytes()[:64])
        raw = path.read_bytes()
        cut = data.draw(st.one_of(st.none(), st.integers(0, max(0, len(raw) - 1))))
        if cut is not None:
            path.write_bytes(raw[:cut])
        size = data.draw(st.sampled_from([[], ["--size", "32"]]))
        outcome(["probe", "--weights", compact_file, "--layers", "conv2d0", "--input", path, *size, "-o", folder / "out" / "p.npz"],
                folder, capsys)


# -- memory: refused before allocating, measured in a fresh process ----------------------------

# The peak resident memory of this process image (VmHWM starts afresh at exec; ru_maxrss would
# carry over the forking pytest process's peak).
MEASURED = "import sys\nfrom synthcircuits.cli import main\ncode = main(sys.argv[1:])\n" \
           "peak = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM'))\n" \
           "print(f'MAXRSS_KB {peak}', file=sys.stderr)\nsys.exit(code)\n"


def run_measured(argv: list, folder: Path) -> tuple[int, str, int]:
    result = subprocess.run([sys.executable, "-c", MEASURED, *map(str, argv)], capture_output=True, text=True, timeout=120)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("MAXRSS_KB "), result.stderr
    return result.returncode, result.stderr, int(last.split()[1])


def test_memory_bombs_are_refused_within_a_gigabyte(tmp_path):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))
    (tmp_path / "bomb.yaml").write_text(bomb)
    with open(tmp_path / "huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (100000, 3, 224, 224)})
        f.write(b"\0" * 1000)
    Image.new("1", (30000, 30000)).save(tmp_path / "bomb.png")
    big_stimulus = LINES_SPEC + ("checks:\n  - name: c\n    units: line\n    stimulus: {radial_tuning: {size: 1000000}}\n"
                                 "    expect: {preferred_orientation_within_deg: 15}\n")
    (tmp_path / "stimulus.yaml").write_text(big_stimulus)
    weights = tmp_path / "w.safetensors"
    assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "--target", "compact", "-o", str(weights)]) == 0
    cases = {
        # YAML is read before torch is imported: a bad spec costs tens of MB, not the ~700 MB of torch.
        "alias bomb": (["check-spec", tmp_path / "bomb.yaml"], "bomb.yaml:6:8: the document expands to more than 100,000 values"),
        ".npy header of 56 GiB": (["probe", "--weights", weights, "--layers", "conv2d0", "--input", tmp_path / "huge.npy",
                                   "-o", tmp_path / "p.npz"], "the header declares"),
        "decompression bomb": (["probe", "--weights", weights, "--layers", "conv2d0", "--input", tmp_path / "bomb.png",
                                "-o", tmp_path / "p.npz"], "declares 900,000,000 pixels"),
        "absurd stimulus size": (["verify", tmp_path / "stimulus.yaml"], "stimulus.yaml:39:32: checks.0.stimulus.radial_tuning.size: 1000000 is greater than the maximum of 1024"),
    }
    for name, (argv, message) in cases.items():
        before = set(tmp_path.iterdir())
        code, err, peak_kb = run_measured(argv, tmp_path)
        assert code == 2 and message in err and "Traceback" not in err, f"{name}: {err}"
        assert peak_kb < (GIB_IN_KB // 8 if name == "alias bomb" else GIB_IN_KB), f"{name}: peak {peak_kb / 1024:.0f} MiB"
        assert set(tmp_path.iterdir()) == before, name


# -- the records the tool reads back, and the newer spec words (issue 37) ----------------------

NEWER_WORDS_SPEC = LINES_SPEC + """checks:
  - name: pictured
    units: line
    pictures:
      p: {parts: [{line: {angle: 0, length: 20}, at: [0, 4]}, {ring: {radius: 8}, at: [0, 0]}]}
      q: {of: p, flip: horizontal}
    expect: {ratio: {of: p, over: q, at_least: 0.5}}
  - name: network level
    faithfulness: {images: ., measure: kl, against: silencing, recovers_at_least: 0.5, limit: 4}
"""


@pytest.fixture(scope="module")
def census_record(tmp_path_factory):
    folder = tmp_path_factory.mktemp("census")
    assert main(["census", "conv2d2", "--spec", str(SPECS / "lines_from_gabors.yaml"), "-o", str(folder)]) == 0
    return folder


@FUZZ
@given(data=st.data())
def test_mutated_census_records_are_read_or_refused(capsys, census_record, data):
    raw = bytearray((census_record / "census.json").read_bytes())
    kind = data.draw(st.sampled_from(["flip", "truncate", "number"]))
    if kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:  # a number swapped for another that a lying file might hold
        text = raw.decode()
        numbers = [m.span() for m in __import__("re").finditer(r"-?\d+(\.\d+)?", text)]
        start, stop = numbers[data.draw(st.integers(0, len(numbers) - 1))]
        value = data.draw(st.sampled_from(["-1", "1e308", "99999999999999", "NaN", "Infinity", "[]", "{}", '"x"', "null"]))
        raw = bytearray((text[:start] + value + text[stop:]).encode())
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mutated"
        folder.mkdir()
        (folder / "census.json").write_bytes(bytes(raw))
        outcome(["universality", census_record, folder, "-o", Path(tmp) / "u"], Path(tmp), capsys)


@FUZZ
@given(data=st.data())
def test_mutated_specs_with_the_newer_words_are_checked_or_refused(capsys, data):
    text = data.draw(mutated(NEWER_WORDS_SPEC))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "mutated.yaml"
        spec.write_text(text, encoding="utf-8", errors="surrogatepass")
        Image.new("RGB", (32, 32)).save(Path(tmp) / "a.png")
        outcome(["check-spec", spec], Path(tmp), capsys)
