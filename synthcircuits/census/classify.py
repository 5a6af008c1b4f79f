"""Giving each unit of a layer a family from its features and the family table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..taxonomy import FAMILY_TABLE, OTHER, WEAK, UnitFamily

CLEAR = 0.25  # a condition met by this much (relative to its threshold) counts as met without doubt


@dataclass
class CensusUnit:
    unit: str
    layer: str
    channel: int
    branch: str | None
    family: str
    confidence: float  # 0.5 (just inside every condition) to 1 (each a quarter of its threshold past it, or more); 0 for other
    numbers: dict[str, float] = field(default_factory=dict)  # the family's defining features (other: peak only)
    note: str = ""  # for other: why (silent, weak, or the nearest family and what it missed)

    def as_json(self) -> dict:
        return {"unit": self.unit, "layer": self.layer, "channel": self.channel, "branch": self.branch, "family": self.family,
                "confidence": round(self.confidence, 4), "note": self.note,
                "numbers": {k: (round(v, 4) if math.isfinite(v) else None) for k, v in self.numbers.items()}}


def classify_units(features: Mapping[str, np.ndarray], names: Sequence[str], layer: str, channels: Sequence[int],
                   branches: Sequence[str | None], field_px: float, table: Sequence[UnitFamily] = FAMILY_TABLE) -> list[CensusUnit]:
    """Each unit's family: the first row of `table` whose rule holds, else other."""
    peak = features["peak"]
    answering = peak[peak > 0]
    # Of the units that answer at all: a compiled layer is mostly silent channels, and a weak
    # floor over every channel would then vanish there while holding in its compact build.
    floor = WEAK * float(np.median(answering)) if len(answering) else 0.0
    rows = [f for f in table if f.applies_at(field_px)]
    out = []
    for k, (name, channel, branch) in enumerate(zip(names, channels, branches)):
        value = {f: float(v[k]) for f, v in features.items()}
        out.append(_classify(value, rows, floor, CensusUnit(name, layer, channel, branch, OTHER, 0.0)))
    return out


def _classify(value: dict[str, float], rows: Sequence[UnitFamily], floor: float, unit: CensusUnit) -> CensusUnit:
    unit.numbers = {"peak": value["peak"]}
    if value["peak"] <= 0:
        unit.note = "silent: no stimulus of the battery makes it answer"
        return unit
    if value["peak"] < floor:
        unit.note = f"weak: its best answer is {value['peak'] / floor * WEAK:.1%} of the layer's median answer"
        return unit
    nearest, nearest_miss = None, -math.inf
    for row in rows:
        margins = [(c.margin(value[c.feature]), c) for c in row.rule]
        worst, condition = min(margins, key=lambda m: m[0])
        if worst >= 0:
            unit.family = row.name
            unit.confidence = float(0.5 + 0.5 * min(1.0, worst / CLEAR))
            unit.numbers.update({n: value[n] for n in row.numbers})
            return unit
        if worst > nearest_miss:
            nearest, nearest_miss = (row, condition, value[condition.feature]), worst
    if nearest:
        row, condition, got = nearest
        unit.note = f"nearest {row.name}: needs {condition}, has {got:.3g}"
    return unit
