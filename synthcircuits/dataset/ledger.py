"""Which shards of a run are finished and whole.

A shard is finished when its checksum file stands beside it: `shards/00003.sha256`, in the
format `sha256sum -c` reads, written (atomically) only after the shard itself. A resume hashes
every finished shard again: a shard whose bytes no longer match (cut short by a crash on a file
system without atomic rename, damaged since), or that has no checksum (the run died between the
two renames), is computed again. Temp files a killed write left behind are removed.

Each shard also records the items it was computed from, as they were when read (file, size,
modification time): `changed_items` compares them with the files now, so a resume never mixes
results of images that were replaced in place with results of the new ones.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..outputs import atomic_target
from .items import Item, identity
from .shards import ITEM_MTIME, ITEM_PATH, ITEM_SIZE, Shard


@dataclass
class ShardCheck:
    whole: list[Shard] = field(default_factory=list)
    damaged: list[Shard] = field(default_factory=list)  # bytes do not match their checksum, or unreadable
    unfinished: list[Shard] = field(default_factory=list)  # written, but no checksum: the run died in between
    missing: list[Shard] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)  # temp files of writes that never finished

    def todo(self) -> list[Shard]:
        return sorted(self.damaged + self.unfinished + self.missing, key=lambda s: s.number)

    def describe(self) -> str:
        parts = [f"{len(self.whole)} of {len(self.whole) + len(self.todo())} shards whole"]
        for name, shards in (("damaged", self.damaged), ("unfinished", self.unfinished)):
            if shards:
                parts.append(f"{len(shards)} {name} ({_numbers(shards)}), computed again")
        return ", ".join(parts)


def checksum_path(shard_path: Path) -> Path:
    return shard_path.with_suffix(".sha256")


def record_shard(path: Path, payload: bytes) -> None:
    """Write a finished shard, then its checksum: the shard counts as done only once both are there."""
    with atomic_target(path, now=True) as tmp:
        tmp.write_bytes(payload)
    with atomic_target(checksum_path(path), now=True) as tmp:
        tmp.write_text(f"{hashlib.sha256(payload).hexdigest()}  {path.name}\n", encoding="utf-8")


def check_shards(folder: Path, shards: Sequence[Shard]) -> ShardCheck:
    """Sort `shards` into whole, damaged, unfinished and missing, reading every finished one."""
    check = ShardCheck(leftovers=sorted((folder / "shards").glob(".*.part")))
    for shard in shards:
        path = shard.path(folder)
        recorded = _recorded_sum(checksum_path(path))
        if not path.is_file():
            (check.damaged if recorded else check.missing).append(shard)
        elif recorded is None:
            check.unfinished.append(shard)
        elif recorded != _file_sum(path):
            check.damaged.append(shard)
        else:
            check.whole.append(shard)
    return check


def clear_shards(folder: Path, check: ShardCheck) -> None:
    """Remove what a resume recomputes or never needs: damaged and unfinished shards, stray temp files."""
    for shard in check.damaged + check.unfinished:
        for path in (shard.path(folder), checksum_path(shard.path(folder))):
            path.unlink(missing_ok=True)
    for path in check.leftovers:
        path.unlink(missing_ok=True)


def changed_items(folder: Path, shards: Sequence[Shard]) -> list[str]:
    """Files of finished shards' items that are not what the shard was computed from (by size and
    modification time, as the shard recorded them when it read each item), each once, in order."""
    changed: dict[str, None] = {}
    for shard in shards:
        for path, size, mtime in read_identities(shard.path(folder)):
            if path not in changed and identity(Item(Path(path))) != (size, mtime):
                changed[path] = None
    return list(changed)


def read_identities(path: Path) -> list[tuple[str, int, int]]:
    """(file, size, mtime_ns) of each item of a shard, in order; empty if the shard has none."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if ITEM_PATH not in data.files:
                return []
            return list(zip(data[ITEM_PATH].tolist(), data[ITEM_SIZE].tolist(), data[ITEM_MTIME].tolist()))
    except (OSError, ValueError, zipfile.BadZipFile):
        return []


def _recorded_sum(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return None
    return text[0] if text and len(text[0]) == 64 else None


def _file_sum(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _numbers(shards: Sequence[Shard]) -> str:
    shown = ", ".join(f"{s.number:05d}" for s in shards[:5])
    return shown + (f" and {len(shards) - 5} more" if len(shards) > 5 else "")
