"""Measured families: a layer's units sorted into curve and line families by the project's unit
classification (`find`), each with its measured preferred orientation and period."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..layout.address import UnitAddress, unit_at
from ..layout.architectures import Architecture
from ..probe.classify import UnitClass, classify_layer
from ..probe.tuning import ProbeUnit, RadialSweep

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
    kind: str  # "curve" | "line"
    period: int
    units: tuple[MeasuredUnit, ...]

    @property
    def orientations(self) -> list[float]:
        return [u.orientation for u in self.units]


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


def _measured(address: UnitAddress, row: UnitClass) -> MeasuredUnit:
    return MeasuredUnit(address, float(row.preferred), float(row.peak), np.asarray(row.curve.responses) if row.curve else np.zeros(0))
