"""Faults while the dataset runner writes, done for real: processes killed by signal at shard
boundaries, the states a kill inside a write leaves (a shard cut short, a stray temp file, a
shard without its checksum), Ctrl-C and SIGTERM, a second process on the same folder, a disk
that fills, images changed between runs, a Ray actor killed mid-run. Each ends in the output
an uninterrupted run gives, or in a clean refusal."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from processes import start_cli
from synthcircuits.cli import main
from synthcircuits.models import build_model, save_safetensors

TABLES = ("units.parquet", "examples.parquet", "failures.parquet")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Random InceptionV1 weights, 24 noise images, and the uninterrupted run's tables."""
    root = tmp_path_factory.mktemp("faults")
    weights = save_safetensors(build_model("inceptionv1", seed=3).state_dict(), root / "w.safetensors")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(images / f"img_{i:02d}.png")
    reference = root / "reference"
    assert main(args(weights, images, reference)) == 0
    return weights, images, reference


def args(weights: Path, images: Path, out: Path, units: str = "mixed3b:379,mixed3b:385", size: int = 64) -> list[str]:
    return ["dataset-examples", str(weights), "--images", str(images), "--units", units, "-o", str(out), "--size", str(size),
            "--shard-size", "2", "--batch-size", "1", "--workers", "0", "--top", "3", "--bins", "3", "--per-bin", "2"]


def start(argv: list[str]) -> subprocess.Popen:
    return start_cli(argv)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert path.exists(), "the run should have reached this point"


def same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        assert pq.read_table(a / name).to_pylist() == pq.read_table(b / name).to_pylist(), name


def test_a_run_killed_mid_way_and_mid_write_resumes_to_the_uninterrupted_result(setup, tmp_path, capsys):
    weights, images, reference = setup
    out = tmp_path / "out"
    process = start(args(weights, images, out))
    wait_for(out / "shards" / "00004.sha256", process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    shards = out / "shards"
    finished = sorted(shards.glob("*.sha256"))
    assert 5 <= len(finished) < 12 and (out / ".synthcircuits.lock").exists()  # the lock a killed run leaves
    # What a kill inside a write leaves: a shard cut short (a file system without atomic rename),
    # a shard whose checksum was never written, and the temp file of a write that never finished.
    cut = shards / "00001.npz"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    (shards / "00003.sha256").unlink()
    (shards / ".00005.npz.abc.part").write_bytes(b"half a shard")

    assert main(["doctor", str(out)]) == 1
    said = capsys.readouterr().out
    assert "1 damaged (00001)" in said and "1 unfinished (00003)" in said and "1 temp file" in said
    assert "left by pid" in said and f"-o {out}" in said  # the stale lock, and the command that resumes

    assert main(args(weights, images, out)) == 0
    err = capsys.readouterr().err
    assert "took over the lock" in err and "damaged (00001), computed again" in err and "unfinished (00003)" in err
    same_tables(out, reference)
    assert not list(shards.glob(".*.part")) and not (out / ".synthcircuits.lock").exists()
    assert main(["doctor", str(out)]) == 0
    assert "whole: every shard matches its checksum" in capsys.readouterr().out


@pytest.mark.parametrize("sent, status, said", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_ctrl_c_and_sigterm_stop_within_two_seconds_keep_the_shards_and_say_how_to_resume(setup, tmp_path, sent, status, said):
    weights, images, _ = setup
    out = tmp_path / "out"
    argv = args(weights, images, out, units="mixed3b", size=224)  # slow enough to be stopped part-way
    process = start(argv)
    wait_for(out / "shards" / "00001.sha256", process)
    process.send_signal(sent)
    sent_at = time.monotonic()
    _, err = process.communicate(timeout=30)
    assert time.monotonic() - sent_at < 2.0
    assert process.returncode == status
    assert f"stopped: {said}; " in err and "are finished and kept in" in err and f"-o {out}" in err
    kept = sorted((out / "shards").glob("*.sha256"))
    assert 2 <= len(kept) < 12 and not (out / "units.parquet").exists() and not (out / ".synthcircuits.lock").exists()
    assert main(["doctor", str(out)]) == 1


def test_a_second_run_on_the_same_folder_is_refused_at_once_naming_the_first(setup, tmp_path, capsys):
    weights, images, reference = setup
    out = tmp_path / "out"
    first = start(args(weights, images, out, units="mixed3b", size=224))
    try:
        wait_for(out / "shards" / "00000.sha256", first)
        started = time.monotonic()
        assert main(args(weights, images, out, units="mixed3b", size=224)) == 2
        assert time.monotonic() - started < 10
        err = capsys.readouterr().err
        assert f"{out} is being written by another run: pid {first.pid} on " in err and err.count("\n") == 2
    finally:
        first.kill()
        first.wait()


def test_a_full_disk_stops_with_one_line_keeps_finished_shards_and_the_rerun_resumes(setup, tmp_path, capsys, monkeypatch):
    weights, images, reference = setup
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True).returncode == 0
    try:
        out = disk / "out"
        if mounted:  # a real file system that fills: leave room for the job record and a few shards
            filler = disk / "filler"
            with open(filler, "wb") as f:
                try:
                    f.write(b"\0" * (512 * 1024))
                except OSError:
                    pass
            filler.write_bytes(b"\0" * (filler.stat().st_size - 14 * 4096))
        else:  # no mount here: the disk fills after three shards
            import synthcircuits.dataset.ledger as ledger

            calls = {"n": 0}
            real = ledger.record_shard

            def filling(path, payload):
                calls["n"] += 1
                if calls["n"] > 3:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                real(path, payload)

            monkeypatch.setattr(ledger, "record_shard", filling)
        assert main(args(weights, images, out)) == 2
        err = capsys.readouterr().err
        assert "No space left on device" in err and "are finished and kept in" in err and "Traceback" not in err
        kept = sorted((out / "shards").glob("*.sha256"))
        assert 1 <= len(kept) < 12
        assert not list((out / "shards").glob(".*.part")) and not (out / "units.parquet").exists()
        if mounted:
            filler.unlink()
        else:
            monkeypatch.undo()
        assert main(args(weights, images, out)) == 0
        assert f"{len(kept)} of 12 shards whole" in capsys.readouterr().err
        same_tables(out, reference)
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)


def test_images_changed_between_runs_are_refused_not_mixed(setup, tmp_path, capsys):
    weights, images, _ = setup
    changed = tmp_path / "images"
    changed.mkdir()
    for p in images.iterdir():
        changed.joinpath(p.name).write_bytes(p.read_bytes())
    out = tmp_path / "out"
    assert main(args(weights, changed, out)) == 0
    capsys.readouterr()
    # Replaced in place: same name, same size, other pixels, a later modification time.
    victim = changed / "img_05.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(victim)
    assert main(args(weights, changed, out)) == 2
    err = capsys.readouterr().err
    assert "1 image(s) changed since" in err and "img_05.png" in err
    assert main(["doctor", str(out)]) == 1 and "img_05.png" in capsys.readouterr().out
    # A folder that lists other images is another job.
    victim.unlink()
    assert main(args(weights, changed, out)) == 2
    assert "the images differ (24 listed then, 23 now)" in capsys.readouterr().err


def test_a_damaged_shard_read_back_is_a_clear_error_not_a_traceback(tmp_path):
    from synthcircuits.dataset.runner import read_shards
    from synthcircuits.errors import UserError

    bad = tmp_path / "shards" / "00000.npz"
    bad.parent.mkdir()
    bad.write_bytes(b"PK\x03\x04 not a whole zip")
    with pytest.raises(UserError, match="the shard cannot be read"):
        list(read_shards([bad]))


def test_doctor_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["doctor", str(tmp_path)]) == 2
    assert "not the output folder of a dataset run" in capsys.readouterr().err


class _KillsItsActorOnce:
    """A dataset-examples job whose process dies (SIGKILL) the first time it computes a batch."""

    def __init__(self, inner, marker: Path):
        self.inner, self.marker = inner, marker

    def describe(self) -> dict:
        return self.inner.describe()

    def to(self, device):
        return _KillsItsActorOnce(self.inner.to(device), self.marker)

    def process(self, images):
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.process(images)


def test_a_ray_actor_killed_mid_run_is_retried_and_gives_the_local_output(setup, tmp_path):
    pytest.importorskip("ray", reason="Ray is the optional extra; the test extra installs it, so CI runs this")
    from ray import cloudpickle

    from synthcircuits.dataset.examples import ExamplesJob, LayerUnits
    from synthcircuits.dataset.items import list_items
    from synthcircuits.dataset.runner import read_shards, run_job
    from synthcircuits.dataset.shards import RunOptions
    from synthcircuits.models import load_model

    weights, images, _ = setup
    model = load_model(weights)
    units = [LayerUnits("mixed3b", (379, 385), ("mixed3b:379", "mixed3b:385"))]
    items = list_items(images)
    options = RunOptions(batch_size=1, workers=0, shard_size=4, size=64, progress=False)
    local = run_job(ExamplesJob(model, units), items, tmp_path / "local", options)
    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import this test file
    remote = run_job(_KillsItsActorOnce(ExamplesJob(model, units), marker), items, tmp_path / "ray", options, ray="local")
    assert marker.exists() and int(marker.read_text()) != os.getpid()  # an actor's process did die
    for a, b in zip(read_shards(local), read_shards(remote)):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("command", ["dataset-examples", "find", "report"])
def test_every_long_command_refuses_a_folder_another_process_is_writing(setup, tmp_path, capsys, command):
    weights, images, _ = setup
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom synthcircuits.folder_lock import locked_folder\n"
                               f"with locked_folder({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        argv = {"dataset-examples": args(weights, images, out),
                "find": ["find", "mixed3a", "--weights", str(weights), "-o", str(out), "--limit", "1"],
                "report": ["report", str(weights), "--units", "mixed3a:1", "--steps", "1", "--size", "32", "-o", str(out)]}[command]
        assert main(argv) == 2
        assert f"{out} is being written by another run: pid {holder.pid}" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [".synthcircuits.lock"]  # nothing of the refused run's
    finally:
        holder.kill()
        holder.wait()


def test_a_commands_lock_is_held_until_its_staged_outputs_are_in_place(tmp_path):
    from synthcircuits.folder_lock import LOCK_NAME, lock_is_held, locked_folder
    from synthcircuits.outputs import atomic_target, transaction

    out = tmp_path / "out"
    with transaction():
        with locked_folder(out):
            with atomic_target(out / "table.parquet") as tmp:
                tmp.write_text("rows")
        assert lock_is_held(out) and not (out / "table.parquet").exists()  # renames still wait: no second run yet
    assert (out / "table.parquet").read_text() == "rows" and not lock_is_held(out) and not (out / LOCK_NAME).exists()
    failed = tmp_path / "failed"
    with pytest.raises(RuntimeError), transaction():
        with locked_folder(failed):
            raise RuntimeError("the command failed")
    assert not failed.exists()  # the lock went first, then the folder the run had made


@pytest.mark.parametrize("lie", [{"items": 10**15, "shard_size": 1}, {"items": -3}, {"size": "big"}, {"size": 10**9},
                                 {"shard_size": 0}, {"format": 1}, {"items": 1.5}])
def test_a_lying_job_record_is_refused_by_doctor_and_the_report_in_bounded_time(setup, tmp_path, capsys, lie):
    import json
    import shutil

    _, _, reference = setup
    folder = tmp_path / "run"
    shutil.copytree(reference, folder)
    record = json.loads((folder / "job.json").read_text())
    (folder / "job.json").write_text(json.dumps({**record, **lie}))
    started = time.monotonic()
    assert main(["doctor", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'job.json'}: " in err and "Traceback" not in err
    assert main(["report", str(setup[0]), "--units", "mixed3b:379", "--steps", "1", "--size", "32", "--dataset-examples", str(folder),
                 "-o", str(tmp_path / "report")]) == 2
    assert f"{folder / 'job.json'}: " in capsys.readouterr().err and not (tmp_path / "report").exists()
    assert time.monotonic() - started < 30
