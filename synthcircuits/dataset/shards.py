"""One shard of a dataset job: what it is, and how its results are computed and serialised (the
part the local runner and the Ray actors share)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from torch import Tensor
from torch.utils.data import DataLoader

from .items import Item
from .loading import ItemImages

FAILED_INDEX, FAILED_REASON = "failed.index", "failed.reason"
# Batches between handing the heap's free pages back (see `steady_heap`): every batch lost half
# the speed the kept heap gives, once a shard let peak memory grow 8% from 500 to 5,000 images;
# every 4th costs a sixth of it (1.48 s a batch against 1.27) and grows 5.6%, levelling off.
TRIM_EVERY = 4
# Every item of the shard in order, as it was when read: what a resume checks the files against.
ITEM_PATH, ITEM_SIZE, ITEM_MTIME = "item.path", "item.size", "item.mtime_ns"


class Job(Protocol):
    """What a dataset job computes per image."""

    def describe(self) -> dict:
        """Everything its results depend on (model hash, layers, sizes), for resuming safely."""

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        """Per-image rows for a batch: every array's first axis is the batch."""

    def to(self, device: str) -> Job:
        """The job running on `device` (where a Ray actor puts it)."""


@dataclass(frozen=True)
class RunOptions:
    batch_size: int = 32
    workers: int = 2  # image-decoding processes beside the one running the network
    shard_size: int = 512
    size: int = 224  # images are resized (short side) and centre-cropped to this
    progress: bool = True
    device: str = "cpu"


@dataclass(frozen=True)
class Shard:
    number: int
    start: int
    stop: int

    def path(self, folder: Path) -> Path:
        return folder / "shards" / f"{self.number:05d}.npz"


def shards_of(count: int, shard_size: int) -> list[Shard]:
    return [Shard(k, start, min(start + shard_size, count)) for k, start in enumerate(range(0, count, shard_size))]


def shard_batches(items: Sequence[Item], shard: Shard, options: RunOptions) -> DataLoader:
    """One shard's batches, decoded in this process (what a Ray actor runs)."""
    return DataLoader(ItemImages(items, options.size), batch_sampler=batches_of([shard], options.batch_size), num_workers=0)


def shard_payload(job: Job, items: Sequence[Item], batches) -> bytes:
    """A shard's .npz bytes: the job's rows for the readable items, the others with reasons, and
    every item's identity as read."""
    rows: list[dict[str, np.ndarray]] = []
    failed: list[tuple[int, str]] = []
    read: list[tuple[int, int, int]] = []
    for count, (indices, images, reasons, read_as) in enumerate(batches, start=1):
        if count % TRIM_EVERY == 0:
            release_free_memory()
        read += [(int(i), *map(int, r)) for i, r in zip(indices, read_as)]
        ok = [k for k, reason in enumerate(reasons) if not reason]
        failed += [(int(indices[k]), reasons[k]) for k, reason in enumerate(reasons) if reason]
        if len(ok) == len(reasons):  # the usual case: no copy of the batch
            rows.append({"index": indices.numpy().astype(np.int64), **job.process(images)})
        elif ok:
            rows.append({"index": indices[ok].numpy().astype(np.int64), **job.process(images[ok])})
    arrays = {key: np.concatenate([r[key] for r in rows]) for key in rows[0]} if rows else {"index": np.zeros(0, np.int64)}
    arrays[FAILED_INDEX] = np.array([i for i, _ in failed], dtype=np.int64)
    arrays[FAILED_REASON] = np.array([r for _, r in failed], dtype=str)
    arrays[ITEM_PATH] = np.array([str(items[i].path) for i, _, _ in read], dtype=str)
    arrays[ITEM_SIZE] = np.array([s for _, s, _ in read], dtype=np.int64)
    arrays[ITEM_MTIME] = np.array([m for _, _, m in read], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    release_free_memory()
    return buffer.getvalue()


@contextmanager
def steady_heap() -> Iterator[None]:
    """Serve a job's large buffers from the heap, never from fresh mappings, while it runs.

    By default glibc maps every buffer over its mmap threshold afresh and unmaps it when freed,
    so each forward faults in (and zeroes) its big activations again: about 40% of a CPU
    forward was system time on InceptionV1 at 224 px. With mmap off and the heap kept (no trim on
    every free), the pages are reused from batch to batch: a batch of 32 took 1.27 s instead of
    2.1 s, measured. `release_free_memory` hands the free pages back every few batches and at
    the end of each shard, so memory does not grow with the dataset. glibc's default values come back when the block ends (its adaptive mmap threshold
    stays off). No-op where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim), so a job's memory does
    not grow with the number of batches it has run."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (malloc.h)
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536


def _glibc():
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def batches_of(shards: Sequence[Shard], batch_size: int) -> list[list[int]]:
    """Batches that never straddle two shards, so each shard is written as soon as it is done."""
    return [list(range(b, min(b + batch_size, s.stop))) for s in shards for b in range(s.start, s.stop, batch_size)]


def batch_count(shard: Shard, batch_size: int) -> int:
    return -(-(shard.stop - shard.start) // batch_size)
