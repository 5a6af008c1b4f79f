"""The one runner every per-image dataset job goes through.

Items are cut into shards of a fixed size, in order. Each shard's per-image results are written
to `shards/NNNNN.npz` as soon as it is done (atomically, then its checksum), with the items that
could not be read and why, and what every item was when read. A run that is killed, interrupted
or stopped by a full disk resumes from its whole shards; since shards depend only on their
items and the job, the result is the one an uninterrupted run gives. Memory holds one shard's
rows, never the dataset.

The runner owns what can go wrong while it writes, once for every job:
- the folder is locked while a run writes it (`folder_lock`): a second run is refused;
- `job.json` records what the shards were computed for, so a folder is never resumed by a
  different job, and each shard records its items' files, so it is never mixed with images that
  were replaced in place (`ledger`);
- a resume verifies every finished shard's checksum and recomputes what is damaged;
- Ctrl-C, SIGTERM, a full disk or a read-only folder stop the run with one line saying what
  was kept and the command that resumes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import socket
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..errors import Stopped, UserError
from ..folder_lock import locked_folder
from ..images import DECODING
from ..invocation import command_argv, rerun_text
from ..limits import MAX_IMAGE_SIDE, MAX_SHARDS
from ..outputs import atomic_target, make_folders
from ..records import read_record
from .items import Item
from .ledger import changed_items, check_shards, clear_shards, record_shard
from .loading import ItemImages, require_readable
from .ray_runner import run_on_ray
from .shards import (FAILED_INDEX, FAILED_REASON, Job, RunOptions, Shard, batch_count, batches_of, shard_payload, shards_of,
                     steady_heap)

RECORD_FORMAT = 2  # job.json's layout; folders of other formats are not resumed
MAX_JOB_RECORD_BYTES = 16 << 20  # a job.json is a few KB; its job's description, item count and provenance
log = logging.getLogger(__name__)  # the command line shows these on stderr; a library caller routes them
T = TypeVar("T")


def run_and_read(job: Job, items: Sequence[Item], folder: Path | None, options: RunOptions, read: Callable[[list[Path]], T],
                 ray: str | None = None) -> T:
    """`read` of `run_job`'s shards. Without a folder they live in a temporary one, removed once
    read: nothing then resumes, and a stopped run says so."""
    if folder is not None:
        return read(run_job(job, items, folder, options, ray=ray))
    with tempfile.TemporaryDirectory(prefix="synthcircuits-run.") as tmp:
        return read(run_job(job, items, Path(tmp), options, ray=ray, kept=False))


def run_job(job: Job, items: Sequence[Item], folder: Path, options: RunOptions = RunOptions(), ray: str | None = None,
            kept: bool = True) -> list[Path]:
    """Run `job` over `items`, writing (or reusing) one shard file per `shard_size` items; on a
    Ray cluster where `ray` names one ("local", "auto" or an address), else in this process.
    `kept`: whether `folder` outlives the run (for what a stopped run says)."""
    folder = Path(folder)
    shards = shards_of(len(items), options.shard_size)
    if items:
        require_readable(items, options.size)  # a run over nothing readable is an error, before anything is written
    with locked_folder(folder):
        _claim(folder, job, items, options)
        check = check_shards(folder, shards)
        changed = changed_items(folder, check.whole)
        if changed:
            raise UserError(f"{len(changed)} image(s) changed since {folder}'s shards were computed from them: "
                            f"{', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}",
                            hint=f"to compute from the images as they are now, use a new output folder or delete {folder / 'shards'}")
        clear_shards(folder, check)
        if check.whole or check.damaged or check.unfinished:
            log.info("resuming %s: %s", folder, check.describe())
        _compute(job, items, folder, shards, check.todo(), options, ray, kept)
    return [s.path(folder) for s in shards]


def _compute(job: Job, items: Sequence[Item], folder: Path, shards: Sequence[Shard], todo: Sequence[Shard], options: RunOptions,
             ray: str | None, kept: bool) -> None:
    """Compute `todo`, recording each shard as it finishes; a stop says what `folder` keeps."""
    waiting = set(todo)
    done = [s for s in shards if s not in waiting]
    bar = tqdm(total=len(items), initial=sum(s.stop - s.start for s in done), unit="img", desc="images",
               disable=not options.progress, smoothing=0.1)
    finished = _run_here(job, items, todo, options) if ray is None else run_on_ray(job, items, todo, options, ray)
    try:
        with _signals_stop_the_run(), steady_heap():
            for shard, payload in finished:
                record_shard(shard.path(folder), payload)
                done.append(shard)
                bar.update(shard.stop - shard.start)
    except KeyboardInterrupt as exc:
        how, status = ("terminated (SIGTERM)", 143) if isinstance(exc, _Terminated) else ("interrupted", 130)
        raise Stopped(f"{how}; {_kept(done, shards, folder if kept else None)}", exit_status=status,
                      hint=f"{'to resume' if kept else 'to start again'}, run the same command: {rerun_text()}") from None
    except UserError as exc:
        again = "run the same command again to resume" if kept else "run the same command again"
        raise UserError(f"{exc.message}; {_kept(done, shards, folder if kept else None)}",
                        hint=f"{exc.hint or 'mend that'}, then {again}: {rerun_text()}") from None
    finally:
        finished.close()
        bar.close()


def _kept(done: Sequence[Shard], shards: Sequence[Shard], folder: Path | None) -> str:
    images = sum(s.stop - s.start for s in done)
    total = sum(s.stop - s.start for s in shards)
    if folder is None:
        return (f"{images} of {total} images were done, in a temporary folder that is now removed; "
                "name a folder for the shards (--shards DIR) to make a long run resumable")
    return f"{len(done)} of {len(shards)} shards ({images} of {total} images) are finished and kept in {folder / 'shards'}"


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the run is, so it stops as Ctrl-C does: cleanly, within a batch."""


@contextmanager
def _signals_stop_the_run() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_here(job: Job, items: Sequence[Item], todo: Sequence[Shard], options: RunOptions) -> Iterator[tuple[Shard, bytes]]:
    """Shards computed in this process, images decoded by DataLoader workers."""
    if not todo:
        return
    loader = DataLoader(ItemImages(items, options.size), batch_sampler=batches_of(todo, options.batch_size),
                        num_workers=options.workers, pin_memory=torch.cuda.is_available())
    batches = iter(loader)
    for shard in todo:
        yield shard, shard_payload(job, items, (next(batches) for _ in range(batch_count(shard, options.batch_size))))


def read_shards(paths: Sequence[Path]) -> Iterator[dict[str, np.ndarray]]:
    """Each shard's arrays, one shard at a time."""
    for path in paths:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            folder = Path(path).parent.parent
            raise UserError(f"{path}: the shard cannot be read ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                            hint=f"`synthcircuits doctor {folder}` lists what is whole; running the same command again "
                            "recomputes damaged shards") from None
        yield arrays


def failures(paths: Sequence[Path], items: Sequence[Item]) -> list[tuple[str, str]]:
    """(item, reason) for every item that could not be read, in item order."""
    found = []
    for shard in read_shards(paths):
        found += [(items[int(i)].name, str(r)) for i, r in zip(shard[FAILED_INDEX], shard[FAILED_REASON])]
    return found


def read_job_record(folder: Path, strict: bool = False) -> dict | None:
    """What `folder`'s shards were computed for (its job.json); None if it has none. A job.json
    that cannot be read is None too, or with `strict` a UserError at its file:line:col."""
    path = Path(folder) / "job.json"
    if not strict and not path.is_file():
        return None
    try:
        record = read_record(path, "job.json", MAX_JOB_RECORD_BYTES, hint="start over in a new folder, or delete this one")
    except UserError:
        if strict:
            raise
        return None
    return record if isinstance(record, dict) else None


def recorded_layout(folder: Path) -> tuple[int, int, int]:
    """(images, shard size, image size) from `folder`'s job.json, checked before anything is
    built from them: a damaged or lying record is refused at its file, never believed."""
    record = read_job_record(folder, strict=True)
    where = Path(folder) / "job.json"
    if record is None or record.get("format") != RECORD_FORMAT:
        raise UserError(f"{where}: not the job record of this version's dataset runner",
                        hint="name the -o folder of dataset-examples (or edit/patch --shards), or start over in a new folder")
    values = [record.get(key) for key in ("items", "shard_size", "size")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise UserError(f"{where}: items, shard_size and size must be whole numbers", hint="start over in a new folder")
    items, shard_size, size = values
    if items < 0 or shard_size < 1 or -(-items // shard_size) > MAX_SHARDS or not 8 <= size <= MAX_IMAGE_SIDE:
        raise UserError(f"{where}: {items} images in shards of {shard_size} at {size} px is not a run this tool makes "
                        f"(at most {MAX_SHARDS:,} shards, sides of 8 to {MAX_IMAGE_SIDE} px)", hint="start over in a new folder")
    return items, shard_size, size


def _claim(folder: Path, job: Job, items: Sequence[Item], options: RunOptions) -> None:
    """Record what this folder's shards are for; refuse to mix in another job's."""
    record = json.loads(json.dumps({
        "format": RECORD_FORMAT, "job": job.describe(), "items": len(items), "shard_size": options.shard_size,
        "size": options.size, "decoding": DECODING, "items_sha256": hashlib.sha256("\n".join(i.name for i in items).encode()).hexdigest()}))
    make_folders(folder / "shards")
    if (folder / "job.json").is_file():
        differences = _differences(read_job_record(folder), record)
        if differences:
            raise UserError(f"{folder} holds the shards of another job: {'; '.join(differences)}",
                            hint="use a new output folder, or delete this one to start over")
        return
    provenance = {"command": command_argv(), "host": socket.gethostname(), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    with atomic_target(folder / "job.json", now=True) as tmp:
        tmp.write_text(json.dumps({**record, **provenance}, indent=1, sort_keys=True), encoding="utf-8")


def _differences(previous: dict | None, record: dict) -> list[str]:
    """What differs between the job a folder was made for and this one, in words."""
    if previous is None:
        return ["its job.json cannot be read"]
    if previous.get("format") != record["format"]:
        return ["its job.json was written by another version of synthcircuits"]
    said = []
    then, now = previous.get("job") or {}, record["job"]
    if then.get("kind") != now.get("kind"):
        said.append(f"it holds {then.get('kind')} shards, this is {now.get('kind')}")
    else:
        said += [f"the job's {key} differs" for key in sorted(set(then) | set(now)) if then.get(key) != now.get(key)]
    if (previous.get("items"), previous.get("items_sha256")) != (record["items"], record["items_sha256"]):
        said.append(f"the images differ ({previous.get('items')} listed then, {record['items']} now)")
    if previous.get("decoding") != record["decoding"]:
        said.append(f"its images were decoded another way ({previous.get('decoding') or 'before decoding was recorded'}; now "
                    f"{record['decoding']})")
    for key, option in (("shard_size", "--shard-size"), ("size", "--size")):
        if previous.get(key) != record[key]:
            said.append(f"{option} was {previous.get(key)}, now {record[key]}")
    return said
