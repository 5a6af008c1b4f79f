"""Running a spec's checks on a model: measured numbers, limits, pass or fail per unit.

Takes a model and the units to check (where they live in that model, what they were
designed to do); it never reads a spec file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UserError
from ..language.model import Check
from ..stimuli.compose import Paste, flip, render_pictures
from ..tables import format_table
from .geometry_sweep import GEOMETRIES, Robustness, sweep_geometries
from .sweeps import SWEEPS
from .field_claims import claim_value, claims, safe_ratio, variant_pictures, variants
from .pictures import FLIP_TOLERANCE, field_answers, CircleSweep, circle_tuning, flip_mismatch, mirror_safe, picture_maps
from .tuning import ProbeUnit, RadialSweep, TuningCurve, angle_difference, curve_line_selectivity, radial_tuning, responses_at_centre


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

    def __init__(self, model: nn.Module, progress: bool = False, without_feature: Callable[[str], nn.Module] | None = None,
                 paste: Paste | None = None):
        self.model, self.progress = model, progress
        # The model built with one named feature's rules left out (polysemantic checks), and the
        # source of pasted picture parts (feature visualisations, image files).
        self.without_feature, self.paste = without_feature, paste
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

    def pictures(self, check: Check) -> dict[str, Tensor]:
        return render_pictures(check.pictures, self.paste)

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
# other (see run_checks). tests/test_architectures.py holds these to language/schema.py's EXPECTATIONS.
UNIT_EXPECTATIONS: dict[str, Expectation] = {
    "preferred_orientation_within_deg": Expectation("preferred - designed (deg)",
                                                    lambda c, u, r: angle_difference(c.preferred(), u.orientation, c.period), False),
    "echo_at_most": Expectation("echo (fraction of peak)", lambda c, u, r: c.echo(), False),
    "echo_at_least": Expectation("echo (fraction of peak)", lambda c, u, r: c.echo(), True),
    "curve_line_ratio_at_least": Expectation("curve / line response", lambda c, u, r: r, True),
    "width_deg_at_most": Expectation("tuning width (deg)", lambda c, u, r: c.width(), False),
    "width_deg_at_least": Expectation("tuning width (deg)", lambda c, u, r: c.width(), True),
    "peak_at_least": Expectation("peak response", lambda c, u, r: c.peak, True),
    "peak_at_most": Expectation("peak response", lambda c, u, r: c.peak, False),
    "trough_at_most": Expectation("weakest response (fraction of peak)", lambda c, u, r: c.trough(), False),
}
GROUP_EXPECTATIONS = ("peak_follows_rotation", "preferred_orientation_across_geometry_within_deg")


def run_checks(measurements: Measurements, checks: Sequence[Check], units: Sequence[DesignedUnit]) -> list[CheckRow]:
    by_ref = {u.ref: u for u in units}
    rows: list[CheckRow] = []
    for check in checks:
        group = [by_ref[(r.family, r.index)] for r in check.units]
        if check.pictures:
            rows += picture_rows(measurements, check, group, by_ref)
        if check.sweep == "circle_tuning":
            rows += circle_rows(measurements, check, group)
        if not any(key in check.expect for key in (*UNIT_EXPECTATIONS, *GROUP_EXPECTATIONS, "uniform_at_most")):
            continue
        sweep = check_sweep(check)
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
        if "uniform_at_most" in expect:
            uniform = sweep.uniform(group[0].probe.layer, measurements.model.geometry())
            answers = responses_at_centre(measurements.model, [u.probe for u in group], uniform).max(axis=0)
            for unit, curve, answer in zip(group, curves, answers):
                rows.append(_row(check, unit, "strongest uniform field / peak", safe_ratio(answer, curve.peak), False, expect["uniform_at_most"]))
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


def check_sweep(check: Check):
    """The sweep a check's `stimulus:` names, with its parameters."""
    return RadialSweep(**check.stimulus) if check.sweep == "radial_tuning" else SWEEPS[check.sweep](**check.stimulus)


def _row(check: Check, unit: DesignedUnit, measure: str, value: float, at_least: bool, limit: float) -> CheckRow:
    passed = value >= limit if at_least else value <= limit
    return CheckRow(check.name, unit.name, measure, float(value), f"{'>=' if at_least else '<='} {limit:g}", bool(passed) and not math.isnan(value))



def picture_rows(measurements: Measurements, check: Check, group: Sequence[DesignedUnit], by_ref) -> list[CheckRow]:
    """The expectations that compare answers to a check's pictures: ratios, mirror partners, flip
    balance and polysemantic features."""
    expect, model = check.expect, measurements.model
    rows: list[CheckRow] = field_rows(measurements, check, group)
    if not any(k in expect for k in ("flip_balance_within", "mirror_partner", "features")):
        return rows
    pictures = measurements.pictures(check)
    names = list(pictures)
    stack = torch.stack([pictures[n] for n in names])
    answers = responses_at_centre(model, [u.probe for u in group], stack)  # pictures x units
    answer = {n: answers[k] for k, n in enumerate(names)}
    if "flip_balance_within" in expect:
        flipped = responses_at_centre(model, [u.probe for u in group], flip(stack, "horizontal"))
        for k, unit in enumerate(group):
            worst = max(abs(a - b) / max(abs(a), abs(b), 1e-12) for a, b in zip(answers[:, k], flipped[:, k]))
            rows.append(_row(check, unit, "answer vs answer to the left-right flip (relative difference)", worst, False,
                             expect["flip_balance_within"]))
    if "mirror_partner" in expect:
        partners = [by_ref[(expect["mirror_partner"], u.ref[1])] for u in group]
        size = stack.shape[-1]
        unsafe = [u.probe.layer for u in group if not mirror_safe(model, u.probe.layer, size)]
        if unsafe:
            raise UserError(f"check {check.name!r}: {unsafe[0]}'s positions are not symmetric about the centre of {size} px pictures, "
                            "so a flip cannot map its maps exactly", location=getattr(check, "location", None),
                            hint="give the pictures an odd size whose strided maps are odd too (223 for InceptionV1)")
        originals = picture_maps(model, [u.probe for u in group], stack)
        mirrored = picture_maps(model, [u.probe for u in partners], flip(stack, "horizontal"))
        for unit, partner, a, b in zip(group, partners, originals, mirrored):
            rows.append(_row(check, unit, f"maps vs {partner.name}'s on flipped pictures (relative difference)", flip_mismatch(a, b),
                             False, FLIP_TOLERANCE))
    if "features" in expect:
        rows += feature_rows(measurements, check, group, answer, stack, names)
    return rows


def field_rows(measurements: Measurements, check: Check, group: Sequence[DesignedUnit]) -> list[CheckRow]:
    """The `answer`, `ratio` and `conjunction` expectations, read where the check's `at:` says,
    each at its worst over the check's `vary:` variants."""
    found = claims(check)
    if not found:
        return []
    probes = [u.probe for u in group]
    every = variants(check.vary)
    worst: dict[tuple[int, int, str], tuple[float, str, str]] = {}  # (claim, unit, bound) -> (value, measure, variant)
    for variant in every:
        answers = field_answers(measurements.model, probes, variant_pictures(check, variant, measurements.paste), check.at)
        for c, (kind, claim) in enumerate(found):
            parts = len(check.pictures[claim["of"]].get("parts", [])) if kind == "conjunction" else 0
            for k in range(len(group)):
                measure, value, _ = claim_value(kind, claim, answers, k, check.at, parts)
                for bound in ("at_least", "at_most"):
                    if bound not in claim:
                        continue
                    key = (c, k, bound)
                    held = worst.get(key)
                    worse = held is None or math.isnan(value) or (value < held[0] if bound == "at_least" else value > held[0])
                    if worse and not (held is not None and math.isnan(held[0])):
                        worst[key] = (value, measure, variant.label())
    where = {"centre": "", "max": ", strongest in the field", "every": ", worst position in the field"}[check.at]
    rows = []
    for (c, k, bound), (value, measure, label) in sorted(worst.items()):
        spread = f", worst of {len(every)} variants ({label})" if len(every) > 1 else ""
        rows.append(_row(check, group[k], measure + where + spread, value, bound == "at_least", found[c][1][bound]))
    return rows


def feature_rows(measurements: Measurements, check: Check, group, answer, stack: Tensor, names: list[str]) -> list[CheckRow]:
    """A polysemantic unit answers each feature's picture, and losing one feature's rules removes
    only that answer."""
    spec = check.expect["features"]
    shows = spec["answers"]
    removed_limit, kept_limit = spec.get("removed_at_most", 0.2), spec.get("kept_at_least", 0.9)
    if measurements.without_feature is None:
        raise UserError(f"check {check.name!r} ablates features, which needs the spec's own build",
                        hint="run verify on the spec without --weights")
    rows = []
    for k, unit in enumerate(group):
        for feature, picture in shows.items():
            rows.append(_row(check, unit, f"answer to {picture} ({feature})", answer[picture][k], True, 1e-6))
    for feature, picture in shows.items():
        ablated = responses_at_centre(measurements.without_feature(feature), [u.probe for u in group], stack)
        after = {n: ablated[j] for j, n in enumerate(names)}
        for k, unit in enumerate(group):
            for other, other_picture in shows.items():
                value = safe_ratio(after[other_picture][k], answer[other_picture][k])
                if other == feature:
                    rows.append(_row(check, unit, f"without {feature}: answer to {other_picture} / before", value, False, removed_limit))
                else:
                    rows.append(_row(check, unit, f"without {feature}: answer to {other_picture} / before", value, True, kept_limit))
    return rows


def circle_rows(measurements: Measurements, check: Check, group: Sequence[DesignedUnit]) -> list[CheckRow]:
    sweep = CircleSweep(**check.stimulus)
    rows = []
    field = "circle_half_circle_ratio_at_least" in check.expect
    for unit, tuning in zip(group, circle_tuning(measurements.model, [u.probe for u in group], sweep, field)):
        if "radius_within_fraction" in check.expect:
            error = abs(tuning.preferred_radius() - sweep.radius) / sweep.radius
            rows.append(_row(check, unit, f"preferred radius {tuning.preferred_radius():.1f} px vs {sweep.radius:g} (fraction off)",
                             error, False, check.expect["radius_within_fraction"]))
        if "circle_arc_ratio_at_least" in check.expect:
            rows.append(_row(check, unit, "circle / strongest same-length arc", tuning.circle_arc_ratio(sweep.radius), True,
                             check.expect["circle_arc_ratio_at_least"]))
        if field:
            rows.append(_row(check, unit, "circle / strongest half circle of its radius, each strongest in the field",
                             tuning.circle_half_circle_ratio(), True, check.expect["circle_half_circle_ratio_at_least"]))
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
