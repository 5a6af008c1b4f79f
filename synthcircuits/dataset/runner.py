"""The one runner every per-image dataset job goes through.

Items are cut into shards of a fixed size, in order. Each shard's per-image results are written
to `shards/NNNNN.npz` as soon as it is done (atomically), with the items that could not be
read and why. A run that is killed resumes from its finished shards; since shards depend only
on their items and the job, the result is the one an uninterrupted run gives. Memory holds one
shard's rows, never the dataset. `job.json` records what the shards were computed for, so a
folder is never resumed by a different job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..errors import UserError
from ..outputs import atomic_target, make_folders
from .items import Item
from .loading import ItemImages
from .ray_runner import run_on_ray
from .shards import (FAILED_INDEX, FAILED_REASON, Job, RunOptions, Shard, batch_count, batches_of, shard_payload,
                     shards_of)


def run_job(job: Job, items: Sequence[Item], folder: Path, options: RunOptions = RunOptions(), ray: str | None = None) -> list[Path]:
    """Run `job` over `items`, writing (or reusing) one shard file per `shard_size` items; on a
    Ray cluster where `ray` names one ("local", "auto" or an address), else in this process."""
    folder = Path(folder)
    _claim(folder, job, items, options)
    _steady_heap()
    shards = shards_of(len(items), options.shard_size)
    todo = [s for s in shards if not s.path(folder).is_file()]
    done_images = sum(s.stop - s.start for s in shards if s not in todo)
    bar = tqdm(total=len(items), initial=done_images, unit="img", desc="images", disable=not options.progress, smoothing=0.1)
    if ray is None:
        finished = _run_here(job, items, todo, options)
    else:
        finished = run_on_ray(job, items, todo, options, ray)
    for shard, payload in finished:
        with atomic_target(shard.path(folder), now=True) as tmp:
            tmp.write_bytes(payload)
        bar.update(shard.stop - shard.start)
    bar.close()
    return [s.path(folder) for s in shards]


def _run_here(job: Job, items: Sequence[Item], todo: Sequence[Shard], options: RunOptions) -> Iterator[tuple[Shard, bytes]]:
    """Shards computed in this process, images decoded by DataLoader workers."""
    loader = DataLoader(ItemImages(items, options.size), batch_sampler=batches_of(todo, options.batch_size),
                        num_workers=options.workers, pin_memory=torch.cuda.is_available())
    batches = iter(loader)
    for shard in todo:
        yield shard, shard_payload(job, (next(batches) for _ in range(batch_count(shard, options.batch_size))))


def read_shards(paths: Sequence[Path]) -> Iterator[dict[str, np.ndarray]]:
    """Each shard's arrays, one shard at a time."""
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            yield {key: data[key] for key in data.files}


def failures(paths: Sequence[Path], items: Sequence[Item]) -> list[tuple[str, str]]:
    """(item, reason) for every item that could not be read, in item order."""
    found = []
    for shard in read_shards(paths):
        found += [(items[int(i)].name, str(r)) for i, r in zip(shard[FAILED_INDEX], shard[FAILED_REASON])]
    return found


def _steady_heap() -> None:
    """Let glibc serve every allocation over 1 MiB by mmap, returned to the system when freed.
    Its default threshold adapts upward as a forward frees large buffers, after which those
    buffers come from a heap that fragments: a job's peak memory then grows with the number of
    batches (+12% from 500 to 5,000 images, measured). With the threshold fixed it does not
    (+0.5%). No-op where the C library is not glibc."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _claim(folder: Path, job: Job, items: Sequence[Item], options: RunOptions) -> None:
    """Record what this folder's shards are for; refuse to mix in another job's."""
    record = {"job": job.describe(), "items": len(items), "shard_size": options.shard_size, "size": options.size,
              "items_sha256": hashlib.sha256("\n".join(i.name for i in items).encode()).hexdigest()}
    manifest = folder / "job.json"
    make_folders(folder / "shards")
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != json.loads(json.dumps(record)):
            raise UserError(f"{folder} holds the shards of another job (other model, units, images or sizes)",
                            hint="use a new output folder, or delete this one to start over")
        return
    with atomic_target(manifest, now=True) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
