"""How big an input may be before it is refused, and why each limit sits where it does.

Every reader checks these before it allocates, so a hostile or mistaken file costs seconds and
little memory, never the machine. Limits on memory follow the machine: a quarter of its
physical memory (what is left for the user's other work stays the larger part).
"""

from __future__ import annotations

import os
from pathlib import Path
from functools import cache

from .errors import UserError

# YAML specs and edits are written by hand: the shipped curve circuit is 7 KB, ~900 nodes.
MAX_YAML_BYTES = 1 << 20  # 1 MiB: ~150x the largest shipped spec
MAX_YAML_DEPTH = 64  # nesting levels; specs use at most 6
MAX_YAML_NODES = 100_000  # nodes after aliases are expanded (a "billion laughs" file has 10^9)
MAX_YAML_ALIASES = 1_000  # alias uses (`*name`) per document
MAX_INCLUDE_DEPTH = 16  # specs including specs; the shipped ones nest 2 deep
MAX_SPEC_NUMBER = 1e6  # any number in a spec or edit: gains, biases, sizes; float32 overflows long before 1e38 products

# Images and arrays fed to a network. A forward keeps on the order of 200 bytes of activations
# per input pixel (InceptionV1 at 224 px: ~10 MB an image); backward roughly triples that.
FORWARD_BYTES_PER_PIXEL = 256
MAX_IMAGE_SIDE = 16_384  # beyond any camera or scan a researcher feeds a CNN
MAX_SHARDS = 1_000_000  # shards one run folder may claim: 512 million images at the default shard size
MAX_DECODED_PIXELS = 100_000_000  # a 100-megapixel photo decodes to 300 MB; bombs declare billions
MAX_CLASS_MAP_BYTES = 16 << 20  # ImageNet's 1,000-line map is ~30 KB


@cache
def memory_budget() -> int:
    """Bytes one command may plan to use: a quarter of the memory it may have (physical memory,
    or a container's cgroup `memory.max` where that is lower), at least 1 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    limit = cgroup_memory_limit()
    return max(1 << 30, min(total, limit or total) // 4)


def cgroup_memory_limit(path: Path = Path("/sys/fs/cgroup/memory.max")) -> int | None:
    """A cgroup v2 memory limit in bytes (None where there is none), as threads.py reads `cpu.max`."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def gib(n: float) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def check_bytes(needed: float, what: str, hint: str | None = None) -> None:
    """Refuse, before allocating, something that would need more than the memory budget."""
    if needed > memory_budget():
        raise UserError(
            f"{what} would need about {gib(needed)}, more than this machine's budget of {gib(memory_budget())} "
            "(a quarter of its memory)", hint=hint or "use smaller sizes or fewer images at a time")


def check_network_input(count: int, height: int, width: int, what: str, backward: bool = False, hint: str | None = None) -> None:
    """Refuse a batch whose forward (and backward) through a network would not fit the budget."""
    if max(height, width) > MAX_IMAGE_SIDE:
        raise UserError(f"{what} is {height}x{width} px, larger than the {MAX_IMAGE_SIDE} px sides this tool accepts",
                        hint="resize it first, or pass --size N")
    needed = count * height * width * FORWARD_BYTES_PER_PIXEL * (3 if backward else 1)
    check_bytes(needed, f"{what} ({count} x {height}x{width} px) through the network", hint=hint or "pass --size N (e.g. 224) or fewer images")
