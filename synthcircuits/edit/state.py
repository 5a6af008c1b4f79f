"""Copy-on-write editing of a state dict, with a log of every element written."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Change:
    """Elements of one tensor an edit wrote: `index` selects them (ints and slices)."""

    op: str
    tensor: str
    index: tuple
    note: str = ""
    changed: int = 0  # elements whose value actually differs after the write

    def describe(self) -> str:
        def part(i) -> str:
            if isinstance(i, slice):
                return ":" if i == slice(None) else f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}"
            return str(i)

        return f"{self.tensor}[{', '.join(part(i) for i in self.index)}]" + (f"  ({self.note})" if self.note else "")

    def mask(self, shape: torch.Size) -> Tensor:
        m = torch.zeros(shape, dtype=torch.bool)
        m[self.index] = True
        return m


class StateEditor:
    """Reads through to the original dict; the first write to a tensor copies it first.

    The original is never modified, so every edit is a pure function of its input.
    """

    def __init__(self, state: Mapping[str, Tensor]):
        self._original = state
        self._written: dict[str, Tensor] = {}
        self.changes: list[Change] = []

    def __getitem__(self, key: str) -> Tensor:
        return self._written.get(key, self._original[key])

    def __contains__(self, key: str) -> bool:
        return key in self._original

    def write(self, op: str, key: str, index: tuple, value: Tensor | float, note: str = "") -> None:
        if key not in self._written:
            self._written[key] = self._original[key].clone()
        before = self._written[key][index].clone()
        self._written[key][index] = value
        changed = int((self._written[key][index] != before).sum())
        self.changes.append(Change(op, key, index, note, changed))

    def result(self) -> dict[str, Tensor]:
        return {k: self._written.get(k, v) for k, v in self._original.items()}
