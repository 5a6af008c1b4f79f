"""Running a spec's checks on a model: measured numbers, limits, pass or fail per unit.

Takes a model and the units to check (where they live in that model, what they were
designed to do); it never reads a spec file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..spec.model import Check
from ..tables import format_table
from .geometry_sweep import GEOMETRIES, Robustness, sweep_geometries
from .tuning import ProbeUnit, RadialSweep, TuningCurve, angle_difference, curve_line_selectivity, radial_tuning


@dataclass(frozen=True)
class DesignedUnit:
    """A unit to check: its name, family, designed orientation and where the model holds it."""

    ref: tuple[str, int]  # (family, index) in the spec
    name: str
    family: str
    orientation: float
    probe: ProbeUnit


@dataclass(frozen=True)
class CheckRow:
    check: str
    unit: str
    measure: str
    value: float
    limit: str
    passed: bool


class Measurements:
    """Units' tuning curves and curve/line ratios, measured once per (unit, sweep) and shared
    by the checks and the tables that print them."""

    def __init__(self, model: nn.Module, progress: bool = False):
        self.model, self.progress = model, progress
        self._curves: dict[tuple[str, RadialSweep], TuningCurve] = {}
        self._ratios: dict[tuple[str, RadialSweep], float] = {}
        self._robustness: dict[str, Robustness] = {}

    def curves(self, units: Sequence[DesignedUnit], sweep: RadialSweep) -> list[TuningCurve]:
        missing = [u for u in units if (u.name, sweep) not in self._curves]
        if missing:
            for u, curve in zip(missing, radial_tuning(self.model, [u.probe for u in missing], sweep, progress=self.progress)):
                self._curves[(u.name, sweep)] = curve
        return [self._curves[(u.name, sweep)] for u in units]

    def geometry(self, units: Sequence[DesignedUnit]) -> list[Robustness]:
        """Each unit's preferred orientation under the stimulus geometries of `geometry_sweep`."""
        missing = [u for u in units if u.name not in self._robustness]
        if missing:
            found = sweep_geometries(self.model, [u.probe for u in missing], [u.orientation for u in missing], progress=self.progress)
            self._robustness.update({u.name: r for u, r in zip(missing, found)})
        return [self._robustness[u.name] for u in units]

    def ratios(self, units: Sequence[DesignedUnit], sweep: RadialSweep) -> list[float]:
        missing = [u for u in units if (u.name, sweep) not in self._ratios]
        if missing:
            values = curve_line_selectivity(self.model, [u.probe for u in missing], [u.orientation for u in missing], sweep)
            self._ratios.update({(u.name, sweep): float(v) for u, v in zip(missing, values)})
        return [self._ratios[(u.name, sweep)] for u in units]


@dataclass(frozen=True)
class Expectation:
    """One per-unit expectation of a spec's `checks:`: what it measures and which way its limit points."""

    measure: str
    value: Callable[[TuningCurve, DesignedUnit, float], float]  # (tuning curve, unit, curve/line ratio)
    at_least: bool


# Every per-unit expectation by its spec key; `peak_follows_rotation` compares units with each
# other (see run_checks). tests/test_architectures.py holds these to spec/schema.py's EXPECTATIONS.
UNIT_EXPECTATIONS: dict[str, Expectation] = {
    "preferred_orientation_within_deg": Expectation("preferred - designed (deg)",
                                                    lambda c, u, r: angle_difference(c.preferred(), u.orientation), False),
    "echo_at_most": Expectation("echo (fraction of peak)", lambda c, u, r: c.echo(), False),
    "echo_at_least": Expectation("echo (fraction of peak)", lambda c, u, r: c.echo(), True),
    "curve_line_ratio_at_least": Expectation("curve / line response", lambda c, u, r: r, True),
    "width_deg_at_most": Expectation("tuning width (deg)", lambda c, u, r: c.width(), False),
    "width_deg_at_least": Expectation("tuning width (deg)", lambda c, u, r: c.width(), True),
    "peak_at_least": Expectation("peak response", lambda c, u, r: c.peak, True),
}
GROUP_EXPECTATIONS = ("peak_follows_rotation", "preferred_orientation_across_geometry_within_deg")


def run_checks(measurements: Measurements, checks: Sequence[Check], units: Sequence[DesignedUnit]) -> list[CheckRow]:
    by_ref = {u.ref: u for u in units}
    rows: list[CheckRow] = []
    for check in checks:
        group = [by_ref[(r.family, r.index)] for r in check.units]
        sweep = RadialSweep(**check.stimulus)
        curves = measurements.curves(group, sweep)
        expect = check.expect
        ratios = measurements.ratios(group, sweep) if "curve_line_ratio_at_least" in expect else [math.nan] * len(group)
        for unit, curve, ratio in zip(group, curves, ratios):
            for key, e in UNIT_EXPECTATIONS.items():
                if key in expect:
                    value, limit = e.value(curve, unit, ratio), expect[key]
                    passed = value >= limit if e.at_least else value <= limit
                    rows.append(CheckRow(check.name, unit.name, e.measure, value, f"{'>=' if e.at_least else '<='} {limit:g}",
                                         bool(passed) and not math.isnan(value)))
        if "preferred_orientation_across_geometry_within_deg" in expect:
            limit = expect["preferred_orientation_across_geometry_within_deg"]
            for unit, robust in zip(group, measurements.geometry(group)):
                rows.append(CheckRow(check.name, unit.name, f"worst preferred - designed over {len(GEOMETRIES)} geometries (deg)",
                                     robust.worst, f"<= {limit:g}", bool(robust.worst <= limit)))
        if expect.get("peak_follows_rotation"):
            responses = np.stack([[c.response_at(u.orientation) for c in curves] for u in group])  # stimulus x unit
            for k, unit in enumerate(group):
                winner = group[int(responses[k].argmax())]
                rows.append(CheckRow(check.name, unit.name, f"strongest at {unit.orientation:g} deg", float(responses[k].max()),
                                     f"= {unit.name}", winner is unit))
    return rows


def checks_table(rows: Sequence[CheckRow]) -> str:
    return format_table(
        ["check", "unit", "measure", "value", "limit", "result"],
        [[r.check, r.unit, r.measure, r.value, r.limit, "pass" if r.passed else "FAIL"] for r in rows],
    )


def checks_summary(rows: Sequence[CheckRow]) -> str:
    """One line per check and measure: how many units hold, the worst value, the limit."""
    groups: dict[tuple[str, str], list[CheckRow]] = {}
    for r in rows:
        measure = "peak follows rotation" if r.measure.startswith("strongest at") else r.measure
        groups.setdefault((r.check, measure), []).append(r)
    table = []
    for (check, measure), group in groups.items():
        failed = [r for r in group if not r.passed]
        worst = None
        if measure != "peak follows rotation":  # the value closest to (or furthest past) its limit
            at_least = group[0].limit.startswith(">=")
            worst = min(group, key=lambda r: (r.passed, r.value if at_least else -r.value))
        table.append([check, measure, f"{len(group) - len(failed)}/{len(group)}", "" if worst is None else worst.value,
                      "" if worst is None else worst.limit, "pass" if not failed else "FAIL"])
    return format_table(["check", "measure", "units holding", "worst", "limit", "result"], table)


def tuning_table(units: Sequence[DesignedUnit], measurements: Measurements, sweep: RadialSweep) -> str:
    """Designed vs measured preferred orientation, width, echo and curve/line selectivity, one row a unit."""
    curves, ratios = measurements.curves(units, sweep), measurements.ratios(units, sweep)
    rows = [
        [u.name, u.family, u.orientation, c.preferred(), angle_difference(c.preferred(), u.orientation), c.width(), c.echo(), r, c.peak]
        for u, c, r in zip(units, curves, ratios)
    ]
    return format_table(["unit", "family", "designed", "preferred", "diff", "width", "echo", "curve/line", "peak"], rows)
