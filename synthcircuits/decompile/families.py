"""Measured families: a layer's units sorted into families by their stimulus tuning, each unit
with its measured preferred orientation (or hue) and period.

Curve targets read curve and line inputs (`find`'s classification); high-low frequency targets
read whichever input units weigh on them most, one family each, with no orientation; colour
contrast targets read the input layer's hue-selective units as one hue family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..layout.address import UnitAddress, unit_at
from ..layout.architectures import Architecture
from ..probe.classify import UnitClass, classify_layer
from ..probe.sweeps import HueSweep
from ..probe.tuning import ProbeUnit, RadialSweep, radial_tuning

SWEEP = RadialSweep(step=5.0)
# An input layer's curve units are early curves: they keep an echo and prefer arcs to lines less
# than `find`'s curve detectors do (the compiled curve circuit's mixed3a early curves: echo
# 0.35-0.47, curve/line 1.46-1.74, width 77-98 degrees). Line units answer an arc and its 180-degree
# turn alike (echo near 1).
EARLY_CURVE = {"peak": 0.25, "echo": 0.6, "ratio": 1.3, "width": 120.0}


@dataclass(frozen=True)
class MeasuredUnit:
    address: UnitAddress
    orientation: float  # preferred, degrees (curves over 360, lines over 180)
    peak: float
    tuning: np.ndarray  # responses over the classification sweep


@dataclass(frozen=True)
class MeasuredFamily:
    kind: str  # "curve" | "line" | "colour" | "input" (one unit that weighs on the targets, no orientation)
    period: int
    units: tuple[MeasuredUnit, ...]
    axis: str = "orientation"  # what the units' orientations measure: "orientation" (space) or "hue"
    name: str = ""  # the draft's name for the family; "" means its kind

    @property
    def orientations(self) -> list[float]:
        return [u.orientation for u in self.units]

    @property
    def label(self) -> str:
        return self.name or self.kind

    @property
    def members(self) -> str:
        """What it holds, in words: `16 units`, or the one unit's address."""
        return str(self.units[0].address) if len(self.units) == 1 else f"{len(self.units)} units"


def classified(model: nn.Module, arch: Architecture, layer: str, channels: Sequence[int], kind: str) -> list[UnitClass]:
    units = [ProbeUnit(f"{layer}:{c}", layer, c) for c in channels]
    branches = [unit_at(layer, c, arch).branch for c in channels]
    return classify_layer(model, units, branches, "curves" if kind == "curve" else "lines", SWEEP)


def measure_targets(model: nn.Module, arch: Architecture, units: Sequence[UnitAddress]) -> MeasuredFamily:
    """The target units as a curve family (their orientation is their preferred arc), whether or
    not each passes the membership test (the report says which do)."""
    layer = units[0].layer
    rows = {r.channel: r for r in classified(model, arch, layer, [u.channel for u in units], "curve")}
    return MeasuredFamily("curve", 360, tuple(_measured(u, rows[u.channel]) for u in units))


def measure_inputs(model: nn.Module, arch: Architecture, layer: str) -> list[MeasuredFamily]:
    """The input layer's early curves (period 360, see EARLY_CURVE) and, of the rest, its line
    members (period 180); pool-branch units are left out."""
    # Units of a pool branch read a max pool: the spec language places none there, so they stay out.
    channels = [c for c in range(arch.layer(layer).channels) if unit_at(layer, c, arch).branch != "pool_reduce"]
    rows = classified(model, arch, layer, channels, "curve")
    top = max((r.peak for r in rows), default=0.0)
    curves = [r for r in rows if np.isfinite(r.preferred) and r.peak >= EARLY_CURVE["peak"] * top and r.echo <= EARLY_CURVE["echo"]
              and r.selectivity >= EARLY_CURVE["ratio"] and r.width <= EARLY_CURVE["width"]]
    taken = {r.channel for r in curves}
    lines = [r for r in classified(model, arch, layer, [c for c in channels if c not in taken], "line")
             if r.member and np.isfinite(r.preferred)]
    families = []
    for kind, period, rows in (("curve", 360, curves), ("line", 180, lines)):
        if rows:
            ordered = sorted(rows, key=lambda r: r.preferred)
            families.append(MeasuredFamily(kind, period, tuple(_measured(unit_at(layer, r.channel, arch), r) for r in ordered)))
    return families


def strongest_inputs(arch: Architecture, layer: str, weights: np.ndarray, share: float = 0.95, most: int = 16) -> list[MeasuredFamily]:
    """The input units that carry `share` of the targets' squared weight (at most `most`), each its
    own family: a unit with no orientation the targets read by position alone. `weights`: the
    targets' expanded weights, (targets, input channels, K, K)."""
    channels = [c for c in range(weights.shape[1]) if unit_at(layer, c, arch).branch != "pool_reduce"]
    energy = {c: float((weights[:, c] ** 2).sum()) for c in channels}
    total = sum(energy.values())
    kept, carried = [], 0.0
    for c in sorted(channels, key=lambda c: -energy[c]):
        if len(kept) == most or carried >= share * total or energy[c] <= 0:
            break
        kept.append(c)
        carried += energy[c]
    return [MeasuredFamily("input", 360, (MeasuredUnit(unit_at(layer, c, arch), 0.0, energy[c], np.zeros(0)),),
                           name=f"input_{c}") for c in kept]


def hue_inputs(model: nn.Module, arch: Architecture, layer: str, least_peak: float = 0.25, most_floor: float = 0.5) -> list[MeasuredFamily]:
    """The input layer's hue-selective units as one hue family (period 360), each at the hue of the
    whole-field colour it answers most: units that answer at least `least_peak` of the layer's
    strongest hue answer and whose weakest hue is at most `most_floor` of their best."""
    channels = [c for c in range(arch.layer(layer).channels) if unit_at(layer, c, arch).branch != "pool_reduce"]
    curves = radial_tuning(model, [ProbeUnit(f"{layer}:{c}", layer, c) for c in channels], HueSweep(kind="field"))
    top = max((c.peak for c in curves), default=0.0)
    rows = [(ch, c) for ch, c in zip(channels, curves)
            if top > 0 and c.peak >= least_peak * top and np.isfinite(c.preferred()) and c.responses.min() <= most_floor * c.peak]
    rows.sort(key=lambda row: row[1].preferred())
    units = tuple(MeasuredUnit(unit_at(layer, ch, arch), c.preferred(), c.peak, np.asarray(c.responses)) for ch, c in rows)
    return [MeasuredFamily("colour", 360, units, axis="hue")] if units else []


def _measured(address: UnitAddress, row: UnitClass) -> MeasuredUnit:
    return MeasuredUnit(address, float(row.preferred), float(row.peak), np.asarray(row.curve.responses) if row.curve else np.zeros(0))
