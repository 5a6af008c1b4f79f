"""Dataset jobs: dataset examples of compiled units on a folder of generated images, streamed in
resumable shards, with unreadable files listed and skipped."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.stimuli import arcs

SPEC = Path(__file__).resolve().parents[1] / "specs" / "curve_circuit.yaml"
UNITS = "mixed3b:379,mixed3b:385,mixed3b:342"
ORIENTATIONS = range(0, 360, 15)


@pytest.fixture(scope="module")
def arc_folder(tmp_path_factory):
    """Arcs at 24 orientations (the file name says which), plus a corrupt PNG and a stray text file."""
    folder = tmp_path_factory.mktemp("arcs")
    for o in ORIENTATIONS:
        image = arcs(torch.tensor([float(o)]), 32.0)[0]
        Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / f"arc_{o:03d}.png")
    (folder / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def examples(arc_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("examples") / "out"
    assert main(["dataset-examples", str(SPEC), "--images", str(arc_folder), "--units", UNITS, "-o", str(out), "--crops",
                 "--shard-size", "8", "--batch-size", "4", "--workers", "0", "--top", "3", "--bins", "3", "--per-bin", "3"]) == 0
    return out


def designed_orientations() -> dict[str, float]:
    from synthcircuits.compile import compile_spec
    from synthcircuits.language import load_spec

    return {str(u.address): u.orientation for u in compile_spec(load_spec(SPEC), "compact").units if u.address}


def test_top_examples_of_compiled_curves_are_their_designed_arcs(examples):
    rows = pq.read_table(examples / "examples.parquet").to_pylist()
    designed = designed_orientations()
    for unit in UNITS.split(","):
        best = next(r for r in rows if r["unit"] == unit and r["kind"] == "top" and r["rank"] == 0)
        shown = int(Path(best["image"]).stem.split("_")[1])
        error = abs((shown - designed[unit] + 180) % 360 - 180)
        assert error <= 30, (unit, shown, designed[unit])


def test_crops_are_the_receptive_field_inside_the_image(examples):
    from synthcircuits.layout.geometry import INCEPTIONV1_GEOMETRY

    for row in pq.read_table(examples / "examples.parquet").to_pylist():
        assert 0 <= row["crop_top"] <= row["crop_bottom"] <= 223 and 0 <= row["crop_left"] <= row["crop_right"] <= 223
        lo, hi = INCEPTIONV1_GEOMETRY.input_span(row["layer"], row["y"])
        assert (row["crop_top"], row["crop_bottom"]) == (max(lo, 0), min(hi, 223))
        crop = Image.open(examples / row["crop"])
        assert crop.size == (row["crop_right"] - row["crop_left"] + 1, row["crop_bottom"] - row["crop_top"] + 1)


def test_sigma_bins_are_monotone_and_statistics_match_the_examples(examples):
    rows = pq.read_table(examples / "examples.parquet").to_pylist()
    stats = {r["unit"]: r for r in pq.read_table(examples / "units.parquet").to_pylist()}
    for unit in UNITS.split(","):
        by_bin = {}
        for r in rows:
            if r["unit"] == unit and r["kind"] == "sigma":
                assert r["bin"] <= r["sigma"] < r["bin"] + 1 or (r["bin"] == 2 and r["sigma"] >= 2)
                by_bin.setdefault(r["bin"], []).append(r["activation"])
        means = [np.mean(by_bin[b]) for b in sorted(by_bin)]
        assert len(means) >= 2 and means == sorted(means)
        s = stats[unit]
        assert s["images"] == len(ORIENTATIONS)
        assert s["min"] <= s["q01"] <= s["q50"] <= s["q99"] <= s["max"] + 1e-9
        top = max(r["activation"] for r in rows if r["unit"] == unit)
        assert top == pytest.approx(s["max"])


def test_crops_are_cut_lazily_by_default_and_the_report_shows_the_same_pictures(examples, arc_folder, tmp_path):
    from synthcircuits.dataset.results import read_dataset_examples

    lazy = tmp_path / "lazy"
    assert main(["dataset-examples", str(SPEC), "--images", str(arc_folder), "--units", UNITS, "-o", str(lazy),
                 "--shard-size", "8", "--batch-size", "4", "--workers", "0", "--top", "3", "--bins", "3", "--per-bin", "3"]) == 0
    assert not (lazy / "crops").exists()
    eager_rows = pq.read_table(examples / "examples.parquet").to_pylist()
    lazy_rows = pq.read_table(lazy / "examples.parquet").to_pylist()
    assert [{k: v for k, v in r.items() if k != "crop"} for r in lazy_rows] == [{k: v for k, v in r.items() if k != "crop"} for r in eager_rows]
    eager, cut_now = read_dataset_examples(examples), read_dataset_examples(lazy)
    for a, b in zip(eager_rows, lazy_rows):
        assert cut_now.crop_png(b) is not None
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(cut_now.crop_png(b)))), np.asarray(Image.open(examples / a["crop"])))
    # Units peaking at the same place of the same image share one file.
    assert len(set(r["crop"] for r in eager_rows)) == len(list((examples / "crops").rglob("*.png")))
    assert eager.crop_png(eager_rows[0]) == (examples / eager_rows[0]["crop"]).read_bytes()


def test_unreadable_files_are_listed_and_counted_not_fatal(examples):
    failed = pq.read_table(examples / "failures.parquet").to_pylist()
    assert [Path(f["image"]).name for f in failed] == ["zz_broken.png"]
    assert "not a readable image" in failed[0]["reason"]


def test_a_folder_is_not_resumed_by_another_job(examples, arc_folder, capsys):
    assert main(["dataset-examples", str(SPEC), "--images", str(arc_folder), "--units", "mixed3b:343", "-o", str(examples),
                 "--shard-size", "8", "--workers", "0"]) == 2
    assert "holds the shards of another job" in capsys.readouterr().err


def test_a_killed_run_resumes_to_the_uninterrupted_result(arc_folder, examples, tmp_path):
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "synthcircuits.cli", "dataset-examples", str(SPEC), "--images", str(arc_folder),
               "--units", UNITS, "-o", str(out), "--shard-size", "2", "--batch-size", "1", "--workers", "0",
               "--top", "3", "--bins", "3", "--per-bin", "3", "--crops"]
    # The same results as the fixture's run, whose shards were 8 images: shard size changes nothing.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "shards" / "00000.npz"
    deadline = time.time() + 120
    while not first.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = sorted((out / "shards").glob("*.npz"))
    assert 1 <= len(finished) < 13, "the kill should land part-way"
    assert not (out / "examples.parquet").exists()
    assert subprocess.run(command, capture_output=True).returncode == 0
    for name in ("units.parquet", "examples.parquet", "failures.parquet"):
        a = pq.read_table(out / name).to_pylist()
        b = pq.read_table(examples / name).to_pylist()
        assert a == b, name


def test_a_run_on_a_local_ray_instance_writes_the_same_files(arc_folder, examples, tmp_path):
    pytest.importorskip("ray", reason="Ray is the optional extra; the test extra installs it, so CI runs this")
    out = tmp_path / "ray"
    assert main(["dataset-examples", str(SPEC), "--images", str(arc_folder), "--units", UNITS, "-o", str(out), "--ray", "--crops",
                 "--shard-size", "8", "--batch-size", "4", "--workers", "0", "--top", "3", "--bins", "3", "--per-bin", "3"]) == 0
    for name in ("units.parquet", "examples.parquet", "failures.parquet"):
        assert (out / name).read_bytes() == (examples / name).read_bytes(), name
    assert sorted(p.name for p in (out / "crops").rglob("*.png")) == sorted(p.name for p in (examples / "crops").rglob("*.png"))


def test_report_shows_each_units_dataset_examples_and_sigma_strip(examples, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(SPEC), "-o", str(out), "--units", "mixed3b:379", "--steps", "2", "--size", "32",
                 "--dataset-examples", str(examples)]) == 0
    page = (out / "unit_mixed3b_379.html").read_text()
    rows = [r for r in pq.read_table(examples / "examples.parquet").to_pylist() if r["unit"] == "mixed3b:379"]
    assert "Dataset examples" in page and "standard deviations above the mean" in page
    shown = [part.split("'")[0] for part in page.split("src='")[1:] if part.startswith("assets/crop_")]
    assert len(shown) == len(rows) and all((out / s).is_file() for s in shown)
    assert main(["report", str(SPEC), "-o", str(tmp_path / "r2"), "--units", "mixed3b:379", "--dataset-examples", str(tmp_path)]) == 2
    assert "not a dataset-examples folder" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_list_files_npy_batches_and_limit_are_datasets_too(arc_folder, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text("# five arcs\n" + "".join(f"{arc_folder}/arc_{o:03d}.png\n" for o in (0, 15, 30, 45, 60)))
    batch = np.stack([np.asarray(Image.open(arc_folder / f"arc_{o:03d}.png"), dtype=np.float32) / 255 for o in (90, 105, 120)])
    np.save(tmp_path / "batch.npy", batch)  # (N, H, W, 3) in [0, 1]
    for source, extra, count in ((listed, [], 5), (tmp_path / "batch.npy", [], 3), (arc_folder, ["--limit", "4"], 4)):
        out = tmp_path / f"out_{source.name}_{count}"
        assert main(["dataset-examples", str(SPEC), "--images", str(source), "--units", "mixed3b:379", "-o", str(out),
                     "--workers", "0", *extra]) == 0
        assert pq.read_table(out / "units.parquet").to_pylist()[0]["images"] == count


def test_dataset_examples_run_on_a_traced_network_too(arc_folder, tmp_path):
    from synthcircuits.models import build_model, save_safetensors, weights_metadata

    model = build_model("torchvision:resnet18", seed=0)
    weights = save_safetensors(model.state_dict(), tmp_path / "r18.safetensors", weights_metadata(model))
    out = tmp_path / "out"
    assert main(["dataset-examples", str(weights), "--images", str(arc_folder), "--units", "layer2.0.conv1:3,layer2.0.conv1:7",
                 "-o", str(out), "--workers", "0", "--top", "2", "--per-bin", "1", "--crops"]) == 0
    rows = pq.read_table(out / "examples.parquet").to_pylist()
    assert {r["unit"] for r in rows} == {"layer2.0.conv1:3", "layer2.0.conv1:7"}
    assert all((out / r["crop"]).is_file() for r in rows)
