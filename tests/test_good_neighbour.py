"""What synthcircuits writes reads back right in every tool, and importing or using it changes
nothing around it (issue 38): strict JSON, drafts whose values survive any path, no global state
touched, messages through logging, images decoded as a photo viewer shows them, memory limits
that follow the container, and exporters and tracers on public ground."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.jsontext import strict_json

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


def strictly(path: Path):
    return json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{path}: {c} is not JSON"))


def test_strict_json_writes_null_for_non_finite_numbers_and_names_what_was_there():
    text = strict_json({"r": float("nan"), "rows": [1.0, float("inf")], "deep": {"x": np.float32("-inf"), "y": np.float64(2.5)}})
    data = json.loads(text, parse_constant=lambda c: pytest.fail(c))
    assert data == {"r": None, "r_nonfinite": "nan", "rows": [1.0, None], "deep": {"x": None, "x_nonfinite": "-inf", "y": 2.5}}


def test_command_outputs_read_back_with_a_strict_parser(tmp_path, random_inceptionv1):
    from synthcircuits.models import save_safetensors
    from tests.test_edits import make_labelled_folder

    out = tmp_path / "out"
    assert main(["verify", str(SPECS / "colour_contrast.yaml"), "--json", str(out / "verify.json")]) == 0
    assert main(["census", "conv2d2", "--spec", str(SPECS / "lines_from_gabors.yaml"), "-o", str(out / "census")]) == 0
    weights = save_safetensors(random_inceptionv1.state_dict(), tmp_path / "w.safetensors")
    edit = tmp_path / "e.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: e\nedits:\n  - ablate: {units: [3b:379]}\n")
    folder = make_labelled_folder(tmp_path / "labelled")
    assert main(["edit", str(edit), "--weights", str(weights), "--images", str(folder), "--json", str(out / "effect.json"),
                 "--workers", "0"]) == 0
    written = sorted(out.rglob("*.json"))
    assert len(written) >= 3
    for path in written:
        strictly(path)


HOSTILE = ["runs/try #2/w.safetensors", "a: b/w.safetensors", "*star.safetensors", "&amp.safetensors", "!bang.safetensors",
           "it's \"quoted\".safetensors", "ünïcødé ✓/w.safetensors", "1e-3", "yes", "- dash", "[x]", "{y}"]


@pytest.mark.parametrize("value", HOSTILE)
def test_drafted_yaml_values_read_back_as_written(value):
    from synthcircuits.language.emit import path_scalar, scalar
    from synthcircuits.language.source import parse_source

    assert parse_source(f"base: {path_scalar(value)}\nname: {scalar(value)}\n", "t.yaml").data == {"base": value, "name": value}


def test_a_path_with_a_line_break_is_refused_for_a_draft():
    from synthcircuits.errors import UserError
    from synthcircuits.language.emit import path_scalar

    with pytest.raises(UserError, match="line break"):
        path_scalar("runs/two\nlines.safetensors")


def test_an_extracted_draft_names_its_base_right_whatever_the_path(tmp_path):
    from synthcircuits.language import load_spec

    folder = tmp_path / "try #2: *take"
    folder.mkdir()
    weights = folder / "it's w.safetensors"
    assert main(["build", str(SPECS / "curve_circuit.yaml"), "-o", str(weights)]) == 0
    draft = tmp_path / "draft.yaml"
    assert main(["extract", "mixed3b:379", "--weights", str(weights), "--fraction", "0.5", "-o", str(draft)]) == 0
    assert load_spec(draft).base.resolve() == weights.resolve()


STATE_SCRIPT = r"""
import json, logging, pkgutil, importlib, sys, warnings, tempfile, pathlib
import matplotlib
matplotlib.use("svg")  # a notebook's own backend
import PIL.Image
# What the dependencies do to the process on import is theirs: they come first.
import torch, torch.onnx, torch.fx, torchvision, torchvision.models.feature_extraction, onnx, onnxruntime, pyarrow.parquet, jsonschema
def state():
    return {"backend": matplotlib.get_backend(), "max_pixels": PIL.Image.MAX_IMAGE_PIXELS,
            "warning_filters": [repr(f) for f in warnings.filters], "root_handlers": len(logging.getLogger().handlers),
            "root_level": logging.getLogger().level, "pyplot_figures": len(sys.modules["matplotlib.pyplot"].get_fignums())
            if "matplotlib.pyplot" in sys.modules else 0}
before = state()
import synthcircuits
for module in pkgutil.walk_packages(synthcircuits.__path__, "synthcircuits."):
    importlib.import_module(module.name)
after_import = state()
from synthcircuits.viz.tuning_plot import plot_tuning
from synthcircuits.probe.tuning import TuningCurve
from synthcircuits.images import load_image
import numpy as np
folder = pathlib.Path(tempfile.mkdtemp())
curve = TuningCurve("unit", np.arange(0, 360, 10.0), np.random.rand(36))
plot_tuning([("unit", [("a", curve)])], folder / "t.png")
PIL.Image.new("RGB", (64, 48)).save(folder / "p.jpg")
load_image(folder / "p.jpg", 32)
after_use = state()
print(json.dumps([before, after_import, after_use]))
"""


def test_importing_and_using_the_package_changes_nothing_global():
    result = subprocess.run([sys.executable, "-c", STATE_SCRIPT], capture_output=True, text=True, check=True, cwd=ROOT)
    before, after_import, after_use = json.loads(result.stdout.strip().splitlines()[-1])
    assert after_import == before
    assert after_use == before


def test_library_messages_go_through_logging_not_stderr(tmp_path, caplog, capsys):
    from synthcircuits.dataset.items import Item
    from synthcircuits.dataset.runner import run_job
    from synthcircuits.dataset.shards import RunOptions

    class Mean:
        def describe(self):
            return {"kind": "mean"}

        def process(self, images):
            return {"mean": images.mean((1, 2, 3)).numpy()}

        def to(self, device):
            return self

    batch = tmp_path / "b.npy"
    np.save(batch, np.full((3, 3, 16, 16), 0.5, dtype=np.float32))
    items = [Item(batch, row=k) for k in range(3)]
    options = RunOptions(batch_size=2, workers=0, progress=False, size=16)
    run_job(Mean(), items, tmp_path / "run", options)
    with caplog.at_level(logging.INFO, logger="synthcircuits"):
        run_job(Mean(), items, tmp_path / "run", options)
    assert any(r.name == "synthcircuits.dataset.runner" and "resuming" in r.getMessage() for r in caplog.records)
    assert "resuming" not in capsys.readouterr().err  # a library caller decides where messages go
    record = json.loads((tmp_path / "run" / "job.json").read_text())
    assert "exif" in record["decoding"]
    record["decoding"] = "some other decoder"
    (tmp_path / "run" / "job.json").write_text(json.dumps(record))
    from synthcircuits.errors import UserError

    with pytest.raises(UserError, match="decoded another way"):
        run_job(Mean(), items, tmp_path / "run", options)


def test_large_jpegs_decode_reduced_and_upright(tmp_path):
    from synthcircuits.images import load_image

    width, height = 1600, 1200
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[: height // 2] = (255, 0, 0)  # stored with red on top ...
    pixels[height // 2 :] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # ... and an EXIF orientation that says: turn 90 degrees clockwise to view
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", quality=95, exif=exif)
    image = load_image(tmp_path / "phone.jpg", 64)
    assert image.shape == (3, 64, 64)
    right, left = image[:, :, -8:].mean((1, 2)), image[:, :, :8].mean((1, 2))
    assert right[0] > 0.9 and right[2] < 0.1 and left[2] > 0.9 and left[0] < 0.1  # viewed upright, red is on the right
    with Image.open(tmp_path / "phone.jpg") as im:
        from synthcircuits.images import draft_decode

        draft_decode(im, 64)
        im.load()
        assert max(im.size) <= width // 4  # decoded in the DCT at reduced scale, still covering 64 px


def test_the_memory_budget_follows_a_containers_cgroup_limit(tmp_path, monkeypatch):
    from synthcircuits import limits

    (tmp_path / "memory.max").write_text("max\n")
    assert limits.cgroup_memory_limit(tmp_path / "memory.max") is None
    (tmp_path / "memory.max").write_text("8589934592\n")
    assert limits.cgroup_memory_limit(tmp_path / "memory.max") == 8 << 30
    monkeypatch.setattr(limits, "cgroup_memory_limit", lambda: 8 << 30)
    assert limits.memory_budget.__wrapped__() == 2 << 30  # a quarter of the container's 8 GiB, not of the machine's


def test_the_tracer_settings_are_torchvisions_defaults_written_with_public_names():
    from torchvision.models import feature_extraction

    from synthcircuits.models.graph_trace import tracer_settings

    ours, theirs = tracer_settings(), feature_extraction._set_default_tracer_kwargs(None)
    assert set(ours["autowrap_modules"]) == set(theirs["autowrap_modules"])
    assert set(ours["leaf_modules"]) == set(theirs["leaf_modules"])


def test_the_onnx_exporter_says_nothing_beyond_its_known_notices():
    """Fails when torch deprecates the TorchScript exporter further (a new warning), so the move to
    the dynamo exporter is made on purpose, not discovered when an export breaks."""
    import re

    from synthcircuits.export.onnx_export import KNOWN_EXPORT_NOTICES, CaptureOutputs
    from synthcircuits.models import build_model

    model = CaptureOutputs(build_model("inceptionv1", seed=0), ["mixed3a"]).eval()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        torch.onnx.export(model, (torch.rand(1, 3, 224, 224),), str(Path(__import__("tempfile").mkdtemp()) / "m.onnx"),
                          dynamo=False, opset_version=17, input_names=["images"], output_names=["mixed3a"],
                          dynamic_axes={"images": {0: "batch"}, "mixed3a": {0: "batch"}})
    unknown = [f"{w.category.__name__}: {w.message}" for w in said
               if not any(issubclass(w.category, c) and re.match(m, str(w.message)) for c, m in KNOWN_EXPORT_NOTICES)]
    assert not unknown, unknown
