"""Orientation checks that do not hang on one stimulus geometry.

The radial sweep draws one kind of arc (radius 32 px, 120 degrees, 3 px stroke, black on white,
centred on the unit). Here each unit is swept again under other geometries: radius 15-60 px,
span 60-180 degrees, stroke 1.5-5 px, the arc's midpoint up to 6 px off the receptive-field
centre, and white on black. Each unit gets its preferred orientation under every geometry, the
worst-case error against its designed orientation (or, for trained units, against the standard
sweep's answer) and the spread of the answers (largest minus smallest, on the circle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..stimuli import arcs
from ..tables import format_table
from .tuning import ProbeUnit, TuningCurve, angle_difference, responses_at_centre, stimulus_centre

STEP = 5.0
SIZE = 224


@dataclass(frozen=True)
class StimulusGeometry:
    name: str
    radius: float = 32.0
    span: float = 120.0
    stroke: float = 3.0
    offset: tuple[float, float] = (0.0, 0.0)  # px right, px down from the receptive-field centre
    polarity: float = 1.0  # -1: white arcs on black


# One factor at a time around the standard sweep, at the ends of each range, plus corners.
GEOMETRIES: tuple[StimulusGeometry, ...] = (
    StimulusGeometry("standard"),
    StimulusGeometry("radius 15", radius=15.0), StimulusGeometry("radius 60", radius=60.0),
    StimulusGeometry("span 60", span=60.0), StimulusGeometry("span 180", span=180.0),
    StimulusGeometry("stroke 1.5", stroke=1.5), StimulusGeometry("stroke 5", stroke=5.0),
    StimulusGeometry("right 6", offset=(6.0, 0.0)), StimulusGeometry("left 6", offset=(-6.0, 0.0)),
    StimulusGeometry("down 6", offset=(0.0, 6.0)), StimulusGeometry("up 6", offset=(0.0, -6.0)),
    StimulusGeometry("white on black", polarity=-1.0),
    StimulusGeometry("radius 15, span 180", radius=15.0, span=180.0),
    StimulusGeometry("radius 60, span 60, stroke 1.5", radius=60.0, span=60.0, stroke=1.5),
    StimulusGeometry("radius 20, stroke 5, right 4 down 4", radius=20.0, stroke=5.0, offset=(4.0, 4.0)),
    StimulusGeometry("radius 45, span 90, white on black, up 4", radius=45.0, span=90.0, offset=(0.0, -4.0), polarity=-1.0),
)


def local_shape_error(orientation: float, geometry: StimulusGeometry) -> float:
    """The error geometry alone forces on a unit that reads only the arc's shape near its centre.

    An arc whose midpoint sits `offset` away is another stretch of its circle: near the
    receptive-field centre it looks like an arc of a turned orientation. A unit preferring
    `orientation` locally answers best to the stimulus orientation whose circle, at its point
    nearest the centre, faces `orientation`; this returns how far that lies from `orientation`
    (0 with no offset; about 11 degrees for a 6 px shift along a 32 px arc's tangent).
    """
    sx, sy = geometry.offset[0], -geometry.offset[1]  # y up, as the renderers draw
    nx, ny = np.cos(np.deg2rad(orientation)), np.sin(np.deg2rad(orientation))
    along = sx * nx + sy * ny
    # The circle's centre lies at offset - radius * n(theta); its nearest point to the receptive-field
    # centre faces the unit's orientation when offset + t * n(orientation) has length radius.
    t = -along + np.sqrt(max(along * along - (sx * sx + sy * sy) + geometry.radius ** 2, 0.0))
    theta = np.rad2deg(np.arctan2(sy + t * ny, sx + t * nx))
    return angle_difference(float(theta), orientation)


@dataclass
class Robustness:
    unit: str
    reference: float  # the designed orientation, or the standard sweep's preferred one
    preferred: dict[str, float]  # geometry name -> preferred orientation (nan: no answer)
    geometries: Sequence[StimulusGeometry] = GEOMETRIES

    @property
    def local_shape_worst(self) -> float:
        """The worst error the geometries force on a unit that reads only the arc's shape near its centre."""
        shown = [g for g in self.geometries if g.name in self.preferred]
        return max((local_shape_error(self.reference, g) for g in shown), default=0.0) if np.isfinite(self.reference) else float("nan")

    @property
    def errors(self) -> dict[str, float]:
        return {name: angle_difference(p, self.reference) if np.isfinite(p) else float("nan") for name, p in self.preferred.items()}

    @property
    def worst(self) -> float:
        values = [e for e in self.errors.values() if np.isfinite(e)]
        return max(values) if values else float("nan")

    @property
    def worst_geometry(self) -> str:
        errors = {k: v for k, v in self.errors.items() if np.isfinite(v)}
        return max(errors, key=errors.get) if errors else ""

    @property
    def spread(self) -> float:
        """The smallest arc of the circle that holds every answer."""
        angles = np.sort([p % 360.0 for p in self.preferred.values() if np.isfinite(p)])
        if len(angles) < 2:
            return 0.0
        gaps = np.diff(np.concatenate([angles, [angles[0] + 360.0]]))
        return float(360.0 - gaps.max())


def sweep_geometries(model: nn.Module, units: Sequence[ProbeUnit], designed: Sequence[float | None] | None = None,
                     geometries: Sequence[StimulusGeometry] = GEOMETRIES, progress: bool = False) -> list[Robustness]:
    """Every unit's preferred orientation under every geometry (units of one layer or several)."""
    angles = np.arange(0.0, 360.0, STEP)
    preferred: list[dict[str, float]] = [{} for _ in units]
    layers = list(dict.fromkeys(u.layer for u in units))
    for geometry in geometries:
        for layer in layers:
            columns = [k for k, u in enumerate(units) if u.layer == layer]
            cx, cy = stimulus_centre(layer, SIZE, model.geometry())
            centre = (cx + geometry.offset[0], cy + geometry.offset[1])
            render = lambda o, g=geometry, c=centre: arcs(o, g.radius, width=g.stroke, span=g.span, size=SIZE, center=c,  # noqa: E731
                                                          polarity=g.polarity)
            r = responses_at_centre(model, [units[k] for k in columns], render, torch.tensor(angles, dtype=torch.float32),
                                    progress=progress)
            for i, k in enumerate(columns):
                preferred[k][geometry.name] = TuningCurve(units[k].name, angles, r[:, i]).preferred()
    out = []
    for k, unit in enumerate(units):
        reference = designed[k] if designed is not None and designed[k] is not None else preferred[k].get("standard", float("nan"))
        out.append(Robustness(unit.name, float(reference), preferred[k], tuple(geometries)))
    return out


def robustness_table(rows: Sequence[Robustness], reference: str = "designed") -> str:
    return format_table(["unit", reference, "error, standard sweep", f"worst error ({len(GEOMETRIES)} geometries)", "where", "spread",
                         "local-shape error"],
                        [[r.unit, r.reference, r.errors.get("standard", float("nan")), r.worst, r.worst_geometry, r.spread, r.local_shape_worst]
                         for r in rows])


def robustness_json(rows: Sequence[Robustness]) -> list[dict]:
    return [{"unit": r.unit, "reference": r.reference, "worst": r.worst, "worst_geometry": r.worst_geometry, "spread": r.spread,
             "local_shape_worst": r.local_shape_worst, "preferred": r.preferred} for r in rows]
