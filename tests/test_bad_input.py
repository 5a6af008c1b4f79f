"""Bad input never crashes, hangs, exhausts memory or leaves files (issue 14).

Every case runs through the real CLI entry point and must end with exit status 2, one short
message (a few indented lines at most), no traceback, and nothing new on disk. The cases that
would once have eaten memory run in a subprocess whose peak memory is measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.models import save_safetensors, save_torch

SPECS = Path(__file__).resolve().parents[1] / "specs"
LINES_SPEC = (SPECS / "lines_from_gabors.yaml").read_text().split("\nchecks:")[0]  # its families, without its checks
EDIT_HEAD = "synthcircuits_edit: 1\nname: e\narchitecture: inceptionv1\n"
MAX_MESSAGE_LINES = 6


def snapshot(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def refused(argv: list[str], folder: Path, capsys) -> str:
    """Run the CLI; assert the refusal contract; return the message."""
    before = snapshot(folder)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip() and "it/s]" not in line]
    assert code == 2, f"exit {code}: {err}"
    assert lines and lines[0].startswith("error: "), err
    assert len(lines) <= MAX_MESSAGE_LINES, err
    assert all(line.startswith("  ") for line in lines[1:]), err
    assert "Traceback" not in err
    assert snapshot(folder) == before, f"left behind: {sorted(snapshot(folder) - before)}"
    return err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, random_inceptionv1):
    """Good and bad inputs of every kind, made here."""
    d = tmp_path_factory.mktemp("corpus")
    state = random_inceptionv1.state_dict()
    save_safetensors(state, d / "good.safetensors")
    first = next(iter(state))
    for name, value in (("nan", float("nan")), ("inf", float("inf"))):
        broken = dict(state)
        broken[first] = broken[first].clone()
        broken[first].view(-1)[0] = value
        save_safetensors(broken, d / f"{name}.safetensors")
    save_safetensors({k: v.to(torch.int32) for k, v in state.items()}, d / "int.safetensors")
    save_torch({k: v > 0 for k, v in state.items()}, d / "bool.pth")
    save_safetensors({k: v.half() for k, v in state.items()}, d / "half.safetensors")
    save_safetensors({"a": torch.zeros(3), "b": torch.zeros(2)}, d / "two.safetensors")
    (d / "empty.safetensors").write_bytes(b"")
    save_safetensors(state, d / "badlayout.safetensors", {"synthcircuits.architecture": "compact", "synthcircuits.compact_layout": "{no"})
    save_safetensors(state, d / "hugelayout.safetensors", {"synthcircuits.architecture": "compact", "synthcircuits.compact_layout":
                     '[{"name": "conv2d0", "in_channels": 3, "out_channels": 1000000000, "kernel": 7}]'})
    save_safetensors(state, d / "spliced.safetensors", {"synthcircuits.architecture": "spliced"})
    rng = np.random.default_rng(0)
    np.save(d / "good.npy", rng.random((1, 224, 224, 3), dtype=np.float32))
    nan = rng.random((1, 3, 64, 64), dtype=np.float32)
    nan[0, 0, 0, 0] = np.nan
    np.save(d / "nan.npy", nan)
    np.save(d / "tiny.npy", rng.random((1, 3, 8, 8), dtype=np.float32))
    with open(d / "huge.npy", "wb") as f:  # the header declares 56 GiB; the file holds 1 KB
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (100000, 3, 224, 224)})
        f.write(b"\0" * 1000)
    Image.new("1", (30000, 30000)).save(d / "bomb.png")  # 900 megapixels in ~100 KB
    Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(d / "photo.png")
    (d / "truncated.png").write_bytes((d / "photo.png").read_bytes()[:300])
    (d / "images").mkdir()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d / "images" / "a.png")
    (d / "classes" / "n01").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(d / "classes" / "n01" / "a.png")
    (d / "latin1.txt").write_bytes("n01 caf\xe9 table\n".encode("latin-1"))
    (d / "empty_folder").mkdir()
    (d / "a_file").write_text("x")
    return d


def spec_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


# -- 1. accepted when it must be refused: NaN, Inf, overflow ------------------------------------

SPEC_NUMBERS = {
    "bias nan": ("bias: -2.0", "bias: .nan", "29:5", "families.2.bias: nan is not a finite number"),
    "gain inf": ("gain: 3.0", "gain: .inf", "34:9", "is not a finite number"),
    "gain 1e308": ("gain: 3.0", "gain: 1e308", "34:9", "larger than the 1e+06"),
    "orientation nan": ("orientations: 8          #", "orientations: [0, .nan] #", "11:23", "orientations.1: nan"),
}


@pytest.mark.parametrize("name", sorted(SPEC_NUMBERS))
@pytest.mark.parametrize("command", ["check-spec", "build"])
def test_non_finite_and_overflowing_spec_numbers_are_refused_at_their_line(tmp_path, capsys, name, command):
    old, new, where, message = SPEC_NUMBERS[name]
    assert old in LINES_SPEC
    spec = spec_file(tmp_path, "s.yaml", LINES_SPEC.replace(old, new, 1))
    argv = [command, spec] + (["-o", tmp_path / "out.safetensors"] if command == "build" else [])
    err = refused(argv, tmp_path, capsys)
    assert f"s.yaml:{where}:" in err and message in err


@pytest.mark.parametrize("op, where", [("clamp: {units: [3b:379], value: .nan}", "5:30"),
                                       ("scale: {units: [3b:379], factor: .inf}", "5:30"),
                                       ("scale: {units: [3b:379], factor: 1e300}", "5:30")])
def test_non_finite_edit_values_are_refused(tmp_path, capsys, corpus, op, where):
    edit = spec_file(tmp_path, "e.yaml", EDIT_HEAD + f"edits:\n  - {op}\n")
    err = refused(["edit", edit, "--weights", corpus / "good.safetensors", "-o", tmp_path / "x.safetensors"], tmp_path, capsys)
    assert f"e.yaml:{where}:" in err


@pytest.mark.parametrize("file, message", [
    ("nan.safetensors", "NaN or infinite"), ("inf.safetensors", "NaN or infinite"),
    ("int.safetensors", "torch.int32 values; weights are floating point"), ("bool.pth", "torch.bool values"),
])
def test_weight_files_with_non_finite_or_integer_tensors_are_refused(tmp_path, capsys, corpus, file, message):
    for argv in (["weights", "info", corpus / file],
                 ["probe", "--weights", corpus / file, "--layers", "mixed3b", "--input", corpus / "good.npy", "-o", tmp_path / "p.npz"]):
        assert message in refused(argv, tmp_path, capsys)


def test_npy_with_nan_pixels_and_nan_threshold_are_refused(tmp_path, capsys, corpus):
    probe = ["probe", "--weights", corpus / "good.safetensors", "--layers", "conv2d0", "-o", tmp_path / "p.npz"]
    assert "NaN or infinite" in refused(probe + ["--input", corpus / "nan.npy"], tmp_path, capsys)
    err = refused(["weights", "diagram", "mixed3b:379", "--weights", corpus / "good.safetensors", "-o", tmp_path / "d.png",
                   "--threshold", "nan"], tmp_path, capsys)
    assert "--threshold" in err and "finite" in err


# -- 2. what used to raise tracebacks ----------------------------------------------------------

def test_deeply_nested_yaml_is_refused_at_the_level_that_is_too_deep(tmp_path, capsys):
    spec = spec_file(tmp_path, "deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "deep.yaml:1:67: nested more than 64 levels" in refused(["check-spec", spec], tmp_path, capsys)


def test_oversized_yaml_is_refused_before_reading(tmp_path, capsys):
    spec = spec_file(tmp_path, "big.yaml", "# padding\n" * 200_000)
    assert "more than the 1,048,576 bytes a spec may have" in refused(["check-spec", spec], tmp_path, capsys)


def test_unit_in_a_layer_without_weights_gets_a_clear_line(tmp_path, capsys, corpus):
    err = refused(["weights", "diagram", "maxpool4:3", "--weights", corpus / "good.safetensors", "-o", tmp_path / "d.png"], tmp_path, capsys)
    assert "maxpool4 is a pool layer" in err
    err = refused(["probe", "--weights", corpus / "good.safetensors", "--layers", "maxpool4:3", "--input", corpus / "good.npy",
                   "-o", tmp_path / "p.npz"], tmp_path, capsys)
    assert "unknown layer name(s): maxpool4:3" in err


@pytest.mark.parametrize("file, message", [
    ("badlayout.safetensors", "compact_layout metadata is not a list of compact layers"),
    ("hugelayout.safetensors", "describes a layer InceptionV1 cannot hold"),
    ("spliced.safetensors", "says it is a spliced model, but its synthcircuits.side_paths metadata is missing"),
    ("empty.safetensors", "not a readable safetensors file"),
])
def test_weight_files_whose_metadata_lies_are_refused(tmp_path, capsys, corpus, file, message):
    err = refused(["probe", "--weights", corpus / file, "--layers", "conv2d0", "--input", corpus / "good.npy", "-o", tmp_path / "p.npz"],
                  tmp_path, capsys)
    assert message in err


def test_a_weight_file_that_fits_nothing_says_so_in_a_few_lines(tmp_path, capsys, corpus):
    err = refused(["probe", "--weights", corpus / "two.safetensors", "--layers", "conv2d0", "--input", corpus / "good.npy",
                   "-o", tmp_path / "p.npz"], tmp_path, capsys)
    first = err.splitlines()[0]
    assert "(safetensors, 2 tensors, 5 parameters) fits none of the known architectures; the closest is" in first
    assert "weights info" in err


@pytest.mark.parametrize("inputs, message", [
    (["tiny.npy"], "too small to reach softmax2: this network needs at least 32x32 px"),
    (["bomb.png"], "declares 900,000,000 pixels"),  # Pillow's own guard (left as the process has it) reads the header first
    (["huge.npy"], "the header declares shape [100000, 3, 224, 224]"),
    (["truncated.png"], "not a readable image"),
    (["empty_folder"], "is a folder, not an image file"),
])
def test_images_and_arrays_that_cannot_be_fed_are_refused(tmp_path, capsys, corpus, inputs, message):
    err = refused(["probe", "--weights", corpus / "good.safetensors", "--layers", "softmax2", "--input",
                   *[corpus / i for i in inputs], "-o", tmp_path / "p.npz"], tmp_path, capsys)
    assert message in err


def test_latin1_class_map_names_the_line_and_the_encoding(tmp_path, capsys, corpus):
    err = refused(["edit", spec_file(tmp_path, "e.yaml", EDIT_HEAD + "edits:\n  - scale: {units: [3b:379], factor: 2}\n"),
                   "--weights", corpus / "good.safetensors", "--images", corpus / "classes", "--class-map", corpus / "latin1.txt",
                   "-o", tmp_path / "x.safetensors"], tmp_path, capsys)
    assert "latin1.txt:1:8: byte 0xe9 is not UTF-8" in err


@pytest.mark.parametrize("output, message", [
    ("EXISTING_DIR", "is a folder; this writes one file there"),
    ("A_FILE/p.npz", "is a file, not a folder"),
    ("/proc/p.npz", "is not writable"),
    ("", "is an empty path"),
])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, capsys, corpus, output, message):
    output = output.replace("EXISTING_DIR", str(corpus / "empty_folder")).replace("A_FILE", str(corpus / "a_file"))
    for argv in (["probe", "--weights", corpus / "good.safetensors", "--layers", "conv2d0", "--input", corpus / "good.npy", "-o", output],
                 ["build", SPECS / "lines_from_gabors.yaml", "-o", output],
                 ["build", SPECS / "lines_from_gabors.yaml", "-o", tmp_path / "ok.safetensors", "--units-out", output]):
        assert message in refused(argv, corpus, capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["vis", "mixed3b:379", "--size", "0"], "argument --size: expected a whole number from 16 to 4096, got 0"),
    (["vis", "mixed3b:379", "--size", "-7"], "argument --size"),
    (["vis", "mixed3b:379", "--size", "200000"], "argument --size"),
    (["vis", "mixed3b:379", "--steps", "-5"], "argument --steps"),
    (["vis", "mixed3b:379", "--thresholds", "0,two"], "argument --thresholds: in '0,two': expected a whole number"),
    (["vis", "mixed3b:379", "--thresholds", "0,300"], "--thresholds 300 is past the last step (256)"),
    (["vis", "mixed3b:379", "--seed", "1e3"], "argument --seed"),
    (["compare", "A", "A", "--step", "0"], "argument --step: expected a finite number from 0.1 to 180"),
    (["compare", "A", "A", "--radius", "inf"], "argument --radius"),
    (["tuning", "A", "--units", "3b:1", "--radii", "16,big"], "argument --radii"),
    (["tuning", "A", "--units", "3b:1", "--radii", "16,nan"], "argument --radii"),
    (["export", "A", "--opset", "999"], "argument --opset: expected a whole number from 11 to 20"),
    (["probe", "--layers", "conv2d0", "--input", "A", "--size", "0"], "argument --size"),
    (["find", "conv2d2", "--limit", "-1"], "argument --limit"),
    (["weights", "fetch", "--timeout", "nan"], "argument --timeout"),
])
def test_cli_values_out_of_range_are_refused_with_the_option_name(tmp_path, capsys, corpus, argv, message):
    weights = str(corpus / "good.safetensors")
    argv = [weights if a == "A" else a for a in argv]
    if argv[0] in ("vis", "tuning", "export", "probe"):
        argv += ["-o", str(tmp_path / "out.x")]
    if argv[0] in ("vis", "find") or (argv[0] == "probe"):
        argv += ["--weights", weights]
    if argv[0] in ("compare", "find"):
        argv += ["-o", str(tmp_path / "folder")]
    assert message in refused(argv, tmp_path, capsys)


# -- 3. nothing left behind when a later step fails --------------------------------------------

def test_first_output_is_not_kept_when_a_later_input_check_fails(tmp_path, capsys, corpus):
    edit = spec_file(tmp_path, "e.yaml", EDIT_HEAD + "edits:\n  - scale: {units: [3b:379], factor: 2}\n")
    refused(["edit", edit, "--weights", corpus / "good.safetensors", "--images", corpus / "empty_folder",
             "-o", tmp_path / "x.safetensors"], tmp_path, capsys)
    refused(["edit", edit, "--weights", corpus / "good.safetensors", "--images", corpus / "classes",
             "--class-map", corpus / "latin1.txt", "-o", tmp_path / "x.safetensors", "--json", tmp_path / "x.json"], tmp_path, capsys)


def test_a_failure_after_outputs_were_staged_removes_them_and_the_folders_made(tmp_path):
    from synthcircuits.errors import UserError
    from synthcircuits.outputs import atomic_target, transaction

    with pytest.raises(UserError):
        with transaction():
            with atomic_target(tmp_path / "new" / "deeper" / "first.json") as tmp:
                tmp.write_text("{}")
            raise UserError("the second output failed")
    assert list(tmp_path.iterdir()) == []
    with transaction():
        with atomic_target(tmp_path / "new" / "first.json") as tmp:
            tmp.write_text("{}")
        assert not (tmp_path / "new" / "first.json").exists()  # held back until the command ends
    assert (tmp_path / "new" / "first.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["first.json"]


# -- 4. positions ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, where, message", [
    (LINES_SPEC.replace("    bias: -2.0\n", "    bias: -2.0\n    bais: 1\n"), "30:5", "families.2: unknown key 'bais'"),
    (LINES_SPEC.replace("name: lines-from-gabors", 'name: "lines-from-gabors'), "4:7", "while scanning a quoted scalar"),
    (LINES_SPEC.replace("Three layers", "Three\0layers"), "5:19", "character '\\x00' is not allowed"),
])
def test_yaml_problems_are_reported_at_their_own_line_and_column(tmp_path, capsys, text, where, message):
    spec = spec_file(tmp_path, "s.yaml", text)
    err = refused(["check-spec", spec], tmp_path, capsys)
    assert f"s.yaml:{where}: " in err and message in err


def test_non_utf8_bytes_are_reported_at_line_and_column(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_bytes(LINES_SPEC.replace("Three layers", "Three l\xe9yers").encode("latin-1"))
    assert "s.yaml:5:21: byte 0xe9 is not UTF-8" in refused(["check-spec", spec], tmp_path, capsys)


@pytest.mark.parametrize("body, where, message", [
    ("base: nothere.pth\nedits:\n  - scale: {units: [3b:379], factor: 2}\n", "4:1", "base: "),
    ("edits:\n  - mean_ablate: {units: [3b:379], images: nothere}\n", "5:36", "nothere is not a folder of images"),
    ("edits:\n  - splice: {spec: e.yaml, units: [3b:379]}\n", "5:14", "the splice names this edit file itself"),
])
def test_edit_file_problems_have_a_line(tmp_path, capsys, corpus, body, where, message):
    edit = spec_file(tmp_path, "e.yaml", EDIT_HEAD + body)
    weights = [] if body.startswith("base") else ["--weights", corpus / "good.safetensors"]
    err = refused(["edit", edit, *weights, "-o", tmp_path / "x.safetensors"], tmp_path, capsys)
    assert f"e.yaml:{where}: " in err and message in err


def test_a_circuit_spec_given_as_an_edit_and_the_reverse_say_which_is_which(tmp_path, capsys, corpus):
    spec = spec_file(tmp_path, "c.yaml", LINES_SPEC)
    assert "this is a circuit spec, not an edit spec" in refused(
        ["edit", spec, "--weights", corpus / "good.safetensors", "-o", tmp_path / "x.safetensors"], tmp_path, capsys)
    edit = spec_file(tmp_path, "e.yaml", EDIT_HEAD + "edits:\n  - scale: {units: [3b:379], factor: 2}\n")
    assert "this is an edit spec, not a circuit spec" in refused(["build", edit, "-o", tmp_path / "x.safetensors"], tmp_path, capsys)


# -- 6. and the valid edge cases still work ----------------------------------------------------

def test_image_modes_are_read_with_their_real_values(tmp_path):
    from synthcircuits.images import load_image

    gray16 = np.full((32, 32), 20000, dtype=np.uint16)
    Image.fromarray(gray16).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    value = load_image(tmp_path / "sixteen.png")
    assert value.shape == (3, 32, 32)
    torch.testing.assert_close(value, torch.full((3, 32, 32), 20000 / 65535))
    assert load_image(tmp_path / "sixteen.png", 16).shape == (3, 16, 16)
    rgb = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    expected = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    for mode in ("L", "RGBA", "CMYK", "P", "LA", "1"):
        path = tmp_path / f"{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        Image.fromarray(rgb).convert(mode).save(path)
        image = load_image(path)
        assert image.shape == (3, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1
        if mode == "RGBA":
            torch.testing.assert_close(image, expected)


def test_float16_weights_and_small_images_for_shallow_layers_still_work(tmp_path, capsys, corpus):
    assert main(["probe", "--weights", str(corpus / "half.safetensors"), "--layers", "conv2d0", "--input",
                 str(corpus / "tiny.npy"), "-o", str(tmp_path / "p.npz")]) == 0
    assert np.load(tmp_path / "p.npz")["conv2d0"].shape == (1, 64, 4, 4)


# -- 7. rough edges ----------------------------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "-o", str(tmp_path / "w.safetensors"),
                     "--target", "compact", "--units-out", str(tmp_path / "u.json")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == mode
    assert (tmp_path / "u.json").stat().st_mode & 0o777 == mode


def test_two_builds_in_two_processes_are_byte_identical(tmp_path):
    import hashlib

    digests = []
    for seed in ("1", "2"):
        out = tmp_path / f"b{seed}.safetensors"
        subprocess.run([sys.executable, "-m", "synthcircuits.cli", "build", str(SPECS / "lines_from_gabors.yaml"), "-o", str(out),
                        "--target", "compact"], check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed})
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:  # still a file the safetensors package reads
        assert f.metadata()["synthcircuits.architecture"] == "compact"


def test_check_spec_validates_edit_specs_without_weights(tmp_path, capsys):
    assert main(["check-spec", str(SPECS / "edits" / "curves_substituted.yaml")]) == 0
    assert "ok (edit spec, 1 operations on inceptionv1" in capsys.readouterr().out
    edit = spec_file(tmp_path, "e.yaml", EDIT_HEAD + "edits:\n  - ablate: {units: [3b:480]}\n")
    assert "e.yaml:5:22: '3b:480': mixed3b has 480 channels" in refused(["check-spec", edit], tmp_path, capsys)


def test_weights_info_on_a_caffe_folder_points_to_convert(tmp_path, capsys):
    (tmp_path / "conv1").mkdir()
    assert "weights convert FOLDER --from caffe-bin" in refused(["weights", "info", tmp_path], tmp_path, capsys)


def test_piping_into_head_is_quiet():
    result = subprocess.run(f"{sys.executable} -m synthcircuits.cli layers --arch inceptionv1 | head -1", shell=True,
                            capture_output=True, text=True)
    assert result.stdout.count("\n") == 1
    assert "Error" not in result.stderr and "Traceback" not in result.stderr


def test_every_option_explains_itself_and_help_describes_the_tool():
    import argparse

    from synthcircuits.cli import ARCHITECTURES_TEXT, build_parser
    from synthcircuits.models.zoo import architecture_names

    parser = build_parser()
    assert "write the circuits of a vision network" in parser.format_help() and "synthcircuits demo" in parser.format_help()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    undocumented = []
    for name, command in commands.items():
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    undocumented += [f"{name} {sub_name} {a.dest}" for a in sub._actions if not a.help]
            elif not action.help:
                undocumented.append(f"{name} {action.dest}")
    assert undocumented == []
    assert "(default: 256)" in commands["vis"].format_help() and "(default: 0)" in commands["vis"].format_help()
    assert [n for n in architecture_names() if n not in ARCHITECTURES_TEXT] == []
    assert "timm:NAME" in commands["layers"].format_help()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert [c for c in commands if f"synthcircuits {c}" not in readme] == []


def test_fetch_convert_and_mean_images_refuse_what_they_cannot_use(tmp_path, capsys, corpus):
    err = refused(["weights", "fetch", "--url", "not a url", "-o", tmp_path / "w.pth"], tmp_path, capsys)
    assert "cannot download 'not a url'" in err
    (tmp_path / "caffe" / "conv1").mkdir(parents=True)
    (tmp_path / "caffe" / "conv1" / "7x7_s2_filter.bin").write_bytes(b"\0" * 12)  # a blob of the wrong size
    err = refused(["weights", "convert", tmp_path / "caffe", "--from", "caffe-bin", "-o", tmp_path / "w.safetensors"], tmp_path, capsys)
    assert "not a complete BVLC GoogLeNet (116 of 116 blobs missing or wrong)" in err and "mis-sized   conv1/7x7_s2_filter.bin" in err
    edit = spec_file(tmp_path, "e.yaml", EDIT_HEAD + "edits:\n  - scale: {units: [3b:379], factor: 2}\n")
    err = refused(["edit", edit, "--weights", corpus / "good.safetensors", "--mean-images", corpus / "a_file",
                   "-o", tmp_path / "x.safetensors"], tmp_path, capsys)
    assert "--mean-images" in err and "is not a folder of images" in err


def test_a_folder_in_which_no_image_can_be_read_is_refused_by_every_command_that_takes_images(tmp_path, capsys):
    """census, atlas, mirrors, dataset-examples, edit --mirror and patch --mirror once ran over such a
    folder and wrote their outputs ("0 of 0 predictions changed", every unit "silent")."""
    weights = tmp_path / "lines.safetensors"
    assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "-o", str(weights)]) == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    for k in range(4):
        (broken / f"{k}.png").write_bytes(b"not an image")
    edit = tmp_path / "e.yaml"
    edit.write_text(EDIT_HEAD + "edits:\n  - ablate: {units: [conv2d2:0]}\n")
    patch = tmp_path / "p.yaml"
    patch.write_text("synthcircuits_patch: 1\nname: p\ninterventions:\n  - zero: {units: [conv2d2:0]}\n")
    out = tmp_path / "out"
    for argv in (["census", "conv2d2", "--weights", weights, "--images", broken, "-o", out],
                 ["atlas", "--weights", weights, "--layers", "conv2d2", "--images", broken, "-o", out, "--vis-steps", "1", "--diverse", "0"],
                 ["mirrors", "conv2d2", "--weights", weights, "--images", broken, "-o", out],
                 ["dataset-examples", weights, "--images", broken, "--units", "conv2d2:0", "-o", out, "--workers", "0"],
                 ["edit", edit, "--weights", weights, "--images", broken, "--mirror", "--workers", "0"],
                 ["patch", patch, "--weights", weights, "--images", broken, "--mirror", "-o", out, "--workers", "0"]):
        err = refused(argv, tmp_path, capsys)
        assert "none of the images could be read (4 listed" in err, argv[0]


def test_two_outputs_of_decompile_never_share_a_path(tmp_path, capsys):
    weights = tmp_path / "lines.safetensors"
    assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "-o", str(weights)]) == 0
    err = refused(["decompile", "--weights", weights, "--units", "conv2d2:0", "-o", tmp_path / "draft.json"], tmp_path, capsys)
    assert "would share one path" in err


def test_an_image_list_names_regular_files_only_and_is_refused_at_the_line_that_does_not(tmp_path, capsys):
    weights = tmp_path / "lines.safetensors"
    assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "-o", str(weights)]) == 0
    Image.new("RGB", (64, 64)).save(tmp_path / "ok.png")
    for entry, what in (("/dev/zero", "is not a regular file"), ("../..", "is not a regular file"), ("missing.png", "does not exist")):
        listed = tmp_path / "list.txt"
        listed.write_text(f"# images\nok.png\n{entry}\n")
        err = refused(["dataset-examples", weights, "--images", listed, "--units", "conv2d2:0", "-o", tmp_path / "out", "--workers", "0"],
                      tmp_path, capsys)
        assert f"{listed}:3: {entry} {what}" in err


def test_includes_are_validated_like_the_top_spec_and_bounded_in_depth(tmp_path, capsys):
    head = "synthcircuits: 1\nname: {name}\ninclude: [{include}]\nfamilies:\n  - {{name: f{name}, layer: conv2d1}}\n"
    (tmp_path / "notes.yaml").write_text("just: some notes\n")
    (tmp_path / "top.yaml").write_text(head.format(name="top", include="notes.yaml"))
    assert f"{tmp_path / 'top.yaml'}:3:11: included file" in refused(["check-spec", tmp_path / "top.yaml"], tmp_path, capsys)
    (tmp_path / "badly.yaml").write_text("synthcircuits: 1\nname: badly\nfamilies:\n  - {name: x, layer: conv2d1, gain: lots}\n")
    (tmp_path / "top.yaml").write_text(head.format(name="top", include="badly.yaml"))
    assert f"{tmp_path / 'badly.yaml'}:4:" in refused(["check-spec", tmp_path / "top.yaml"], tmp_path, capsys)
    for k in range(40):  # a chain 40 deep: refused where it passes the limit, not by Python's recursion limit
        (tmp_path / f"c{k}.yaml").write_text(head.format(name=f"c{k}", include=f"c{k + 1}.yaml") if k < 39 else
                                             "synthcircuits: 1\nname: end\nfamilies:\n  - {name: fend, layer: conv2d1}\n")
    err = refused(["check-spec", tmp_path / "c0.yaml"], tmp_path, capsys)
    assert "includes nest more than 16 specs deep" in err and "c15.yaml:3:11" in err  # c0 .. c15 are 16 specs


def test_sweeps_and_feature_visualisations_stay_within_their_bounds(tmp_path, capsys):
    weights = tmp_path / "lines.safetensors"
    assert main(["build", str(SPECS / "lines_from_gabors.yaml"), "-o", str(weights)]) == 0
    err = refused(["compare", SPECS / "lines_from_gabors.yaml", weights, "--sweep", "boundary", "--step", "0.000001", "-o", tmp_path / "c"],
                  tmp_path, capsys)
    assert "--step" in err and "0.1 to 180" in err
    err = refused(["atlas", "--weights", weights, "--layers", "conv2d2", "--vis-size", "4096", "--diverse", "16", "--vis-steps", "1",
                   "-o", tmp_path / "a"], tmp_path, capsys)  # 16 x 4096 px with gradients: about 200 GiB, over any budget
    assert "a feature visualisation batch of 16 image(s)" in err and "budget" in err


def test_picture_errors_found_only_when_measuring_still_name_the_spec_line(tmp_path, capsys):
    spec = tmp_path / "mirror.yaml"
    text = (SPECS / "mirror_pathways.yaml").read_text()
    spec.write_text(text.replace("      left:\n        parts:", "      left:\n        size: 224\n        parts:"))
    err = refused(["check-spec", spec], tmp_path, capsys)  # 'both' is still 223 px
    assert f"{spec}:" in err and "share a size; 'both' is 223 px, 'left' 224 px" in err
    spec.write_text(text.replace("      left:\n        parts:", "      left:\n        size: 224\n        parts:").replace(
        "      both:     # '<' and '>' drawn over each other: an X, both sides at once\n        parts:", "      both:\n        size: 224\n        parts:"))
    err = refused(["verify", spec], tmp_path, capsys)
    assert f"{spec}:" in err and "not symmetric about the centre of 224 px pictures" in err
    car = tmp_path / "car.yaml"
    car.write_text((SPECS / "car_detector.yaml").read_text().replace("{unit: mixed4b:373, size: 48}", "{unit: mixed9z:1, size: 48}"))
    err = refused(["check-spec", car], tmp_path, capsys)
    assert f"{car}:41:" in err and "mixed9z" in err


def test_the_records_the_tool_reads_back_are_untrusted(tmp_path, capsys):
    """census.json and job.json, damaged or lying: refused at their file (and line:col), never believed."""
    import json as json_module

    census = tmp_path / "census"
    assert main(["census", "conv2d2", "--spec", str(SPECS / "lines_from_gabors.yaml"), "-o", str(census)]) == 0
    capsys.readouterr()
    good = json_module.loads((census / "census.json").read_text())
    bad = tmp_path / "bad"
    bad.mkdir()

    def universality_of(text: str) -> str:
        (bad / "census.json").write_text(text)
        return refused(["universality", census, bad, "-o", tmp_path / "u"], tmp_path, capsys)

    unit = next(u for u in good["layers"][0]["units"] if u["best"])
    kind = next(iter(unit["best"]))
    lying = json_module.loads(json_module.dumps(good))
    next(u for u in lying["layers"][0]["units"] if u["unit"] == unit["unit"])["best"][kind] = 10**12
    assert "1000000000000" in universality_of(json_module.dumps(lying))  # an index far past the battery
    assert "holds NaN" in universality_of(json_module.dumps(good).replace(f'"confidence": {unit["confidence"]}', '"confidence": NaN', 1))
    assert "nested deeper" in universality_of("[" * 100_000 + "]" * 100_000)
    assert f"{bad / 'census.json'}:1:" in universality_of(json_module.dumps(good)[:200])  # truncated: named at its line and column
    assert "is not a regular file" in refused(["universality", census, "/dev/zero", "-o", tmp_path / "u"], tmp_path, capsys)
    run = tmp_path / "run"
    assert main(["dataset-examples", str(SPECS / "lines_from_gabors.yaml"), "--images", str(_pictures(tmp_path)), "--units", "conv2d2:0",
                 "-o", str(run), "--workers", "0"]) == 0
    capsys.readouterr()
    (run / "job.json").write_text((run / "job.json").read_text()[:80])
    assert f"{run / 'job.json'}:" in refused(["doctor", run], tmp_path, capsys)


def _pictures(tmp_path: Path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir(exist_ok=True)
    for k in range(2):
        Image.fromarray((np.random.default_rng(k).random((48, 48, 3)) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    return folder


def test_every_numeric_option_shows_its_range_in_help_and_the_parser_enforces_it():
    import argparse

    from synthcircuits.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    checked = 0
    for name, command in commands.items():
        text = command.format_help().replace("\n", " ")
        text = " ".join(text.split())
        for action in command._actions:
            bounds = getattr(action.type, "range_text", None)
            if bounds:
                assert bounds in text, f"{name} {action.option_strings}: --help does not show {bounds}"
                checked += 1
    assert checked > 40


def test_two_outputs_of_edit_never_share_a_path(tmp_path, capsys, random_inceptionv1):
    weights = save_safetensors(random_inceptionv1.state_dict(), tmp_path / "w.safetensors")
    edit = tmp_path / "e.yaml"
    edit.write_text(EDIT_HEAD + "edits:\n  - ablate: {units: [3b:379]}\n")
    err = refused(["edit", edit, "--weights", weights, "-o", tmp_path / "x.safetensors", "--json", tmp_path / "x.safetensors"],
                  tmp_path, capsys)
    assert "share one path" in err
