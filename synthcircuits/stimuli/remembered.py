"""Rendered stimuli kept for the next model that asks for the same ones.

Sweeps draw the same pictures for every model they measure: a mutation test measures some fifty
builds of one spec on identical arcs, lines and boundaries. Rendering them once saves about a
seventh of its time. Kept pictures are read-only by contract (the probes never write to their
input) and are dropped oldest first beyond `BUDGET_BYTES`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from torch import Tensor

BUDGET_BYTES = 256 * 2**20
_kept: OrderedDict[Hashable, Tensor] = OrderedDict()
_held = 0


def remembered(key: Hashable, draw: Callable[[], Tensor]) -> Tensor:
    """`draw()`, or what it returned the last time `key` was asked for."""
    global _held
    if key in _kept:
        _kept.move_to_end(key)
        return _kept[key]
    picture = draw()
    size = picture.element_size() * picture.nelement()
    if size <= BUDGET_BYTES:
        _kept[key] = picture
        _held += size
        while _held > BUDGET_BYTES:
            _, dropped = _kept.popitem(last=False)
            _held -= dropped.element_size() * dropped.nelement()
    return picture


def drawn_once(kind: str, sweep: Hashable, centre: Any, draw: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """A sweep's renderer of angle batches that draws each batch once per process."""
    return lambda angles: remembered((kind, sweep, centre, tuple(angles.tolist())), lambda: draw(angles))


def forget() -> None:
    """Drop every kept picture (for measurements that must start cold)."""
    global _held
    _kept.clear()
    _held = 0
