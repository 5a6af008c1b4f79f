"""Classifying every unit of a layer by its answers to synthetic stimuli (`synthcircuits find`).

All units of the layer are measured in one sweep per stimulus kind (unit-level probing where
the model allows it). Curves: radial tuning to arcs (the sweep `verify` and `compare` use),
echo, width, and the curve/line ratio at the preferred orientation. Lines and edges: an
orientation sweep and its selectivity. Colour: solid fields of six hues against grey.
Boundaries: figure/ground boundaries swept over 360 degrees with every cue at once and with each
cue alone (edge, frequency, colour): a member answers each cue alone at the orientation it
prefers for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..stimuli import CUES, edges, lines
from .sweeps import CueSweep
from .tuning import ProbeUnit, RadialSweep, TuningCurve, angle_difference, responses_at_centre, stimulus_centre

FAMILIES = ("curves", "lines", "edges", "color", "boundaries")
# A member answers its stimuli with at least this fraction of the layer's strongest answer, so
# weak units with a tidy tuning curve are not counted. With 0.25 the trained BVLC inception_3b
# lists 38 curve units, 25 of them in the 5x5 branch (which holds 20% of the channels).
PEAK_FLOOR = 0.25
HUES = {"red": (1.0, 0.1, 0.1), "yellow": (0.95, 0.9, 0.1), "green": (0.1, 0.8, 0.1), "cyan": (0.1, 0.85, 0.9),
        "blue": (0.1, 0.2, 1.0), "magenta": (0.9, 0.1, 0.9)}


@dataclass
class UnitClass:
    unit: str
    channel: int
    branch: str | None
    member: bool  # does it belong to the family asked for
    score: float  # rank within the layer (higher: a clearer member)
    peak: float
    preferred: float  # degrees (curves, edges: over 360; lines: over 180); nan for colour
    width: float
    echo: float
    selectivity: float  # curves: curve/line ratio; lines/edges: 1 - min/max; colour: best hue / grey
    detail: str = ""
    curve: TuningCurve | None = None

    def as_json(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "curve"}
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in data.items()}


def classify_layer(model: nn.Module, units: Sequence[ProbeUnit], branches: Sequence[str | None], family: str,
                   sweep: RadialSweep = RadialSweep(step=10.0), progress: bool = False) -> list[UnitClass]:
    """Every unit's measurements and membership of `family`, best first."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    classify = {"curves": _curves, "lines": _lines, "edges": _edges, "color": _colour, "boundaries": _boundaries}[family]
    rows = classify(model, list(units), sweep, progress)
    for row, branch in zip(rows, branches):
        row.branch = branch
    return sorted(rows, key=lambda r: (not r.member, -r.score))


def _curves(model, units, sweep, progress) -> list[UnitClass]:
    layer = units[0].layer
    geometry = model.geometry()
    angles = torch.tensor(sweep.angles, dtype=torch.float32)
    arcs_r = responses_at_centre(model, units, sweep.render(layer, geometry), angles, progress=progress)
    lines_r = responses_at_centre(model, units, sweep.lines(layer, geometry), angles, progress=progress)
    top = max(float(arcs_r.max()), 1e-12)
    rows = []
    for k, u in enumerate(units):
        curve = TuningCurve(u.name, sweep.angles, arcs_r[:, k])
        line = TuningCurve(u.name, sweep.angles, lines_r[:, k])
        preferred = curve.preferred()
        at_line = line.response_at(preferred) if np.isfinite(preferred) else 0.0
        at_curve = curve.response_at(preferred) if np.isfinite(preferred) else 0.0
        ratio = at_curve / at_line if at_line > 0 else (np.inf if at_curve > 0 else 0.0)
        echo, width = curve.echo(), curve.width()
        member = bool(curve.peak >= PEAK_FLOOR * top and echo <= 0.3 and width <= 90 and ratio >= 2.0)
        score = curve.peak / top * (1 - min(max(echo, 0.0), 1.0)) * min(1.0, max(ratio - 1.0, 0.0) / 2.0) if curve.peak > 0 else 0.0
        rows.append(UnitClass(u.name, u.channel, None, member, float(score), curve.peak, preferred, width, echo, float(ratio),
                              curve=curve))
    return rows


def _orientation(model, units, angles, render, period, progress) -> list[tuple[TuningCurve, float]]:
    responses = responses_at_centre(model, units, render, torch.tensor(angles, dtype=torch.float32), progress=progress)
    out = []
    for k, u in enumerate(units):
        curve = TuningCurve(u.name, angles, responses[:, k], period=period)
        r = responses[:, k]
        selectivity = 1.0 - float(max(r.min(), 0.0) / r.max()) if r.max() > 0 else 0.0
        out.append((curve, selectivity))
    return out


def _lines(model, units, sweep, progress) -> list[UnitClass]:
    layer = units[0].layer
    centre = stimulus_centre(layer, sweep.size, model.geometry())
    length = 2 * sweep.radius * np.deg2rad(sweep.span / 2)
    render = lambda o: lines(o, length=float(length), width=sweep.width, size=sweep.size, center=centre)  # noqa: E731
    measured = _orientation(model, units, np.arange(0.0, 180.0, sweep.step / 2), render, 180.0, progress)
    top = max(max(c.peak for c, _ in measured), 1e-12)
    rows = []
    for u, (curve, selectivity) in zip(units, measured):
        member = bool(curve.peak >= PEAK_FLOOR * top and selectivity >= 0.5 and curve.width() <= 90)
        rows.append(UnitClass(u.name, u.channel, None, member, curve.peak / top * selectivity if curve.peak > 0 else 0.0,
                              curve.peak, curve.preferred(), curve.width(), float("nan"), selectivity, curve=curve))
    return rows


def _edges(model, units, sweep, progress) -> list[UnitClass]:
    layer = units[0].layer
    centre = stimulus_centre(layer, sweep.size, model.geometry())
    render = lambda o: edges(o, size=sweep.size, center=centre)  # noqa: E731
    measured = _orientation(model, units, sweep.angles, render, 360.0, progress)
    top = max(max(c.peak for c, _ in measured), 1e-12)
    rows = []
    for u, (curve, selectivity) in zip(units, measured):
        echo = curve.echo()
        member = bool(curve.peak >= PEAK_FLOOR * top and selectivity >= 0.5 and echo <= 0.5)
        score = curve.peak / top * selectivity * (1 - min(max(echo, 0.0), 1.0)) if curve.peak > 0 else 0.0
        rows.append(UnitClass(u.name, u.channel, None, member, score, curve.peak, curve.preferred(), curve.width(), echo,
                              selectivity, curve=curve))
    return rows


CUE_AGREEMENT_DEG = 30.0  # each cue alone must prefer an orientation this close to all cues together
CUE_SHARE = 0.2  # and reach at least this fraction of their answer


def _boundaries(model, units, sweep, progress) -> list[UnitClass]:
    layer, geometry = units[0].layer, model.geometry()

    def measure(cues):
        cue_sweep = CueSweep(cues=cues, step=sweep.step, size=sweep.size)
        return [c for c, _ in _orientation(model, units, cue_sweep.angles, cue_sweep.render(layer, geometry), 360.0, progress)]

    together, alone = measure(CUES), {cue: measure((cue,)) for cue in CUES}
    top = max(max(c.peak for c in together), 1e-12)
    rows = []
    for k, u in enumerate(units):
        curve = together[k]
        preferred, echo = curve.preferred(), curve.echo()
        shares = {cue: (alone[cue][k].peak / curve.peak if curve.peak > 0 else 0.0) for cue in CUES}
        agree = np.isfinite(preferred) and all(
            np.isfinite(alone[cue][k].preferred()) and angle_difference(alone[cue][k].preferred(), preferred) <= CUE_AGREEMENT_DEG
            for cue in CUES)
        weakest = min(shares.values())
        member = bool(curve.peak >= PEAK_FLOOR * top and echo <= 0.5 and agree and weakest >= CUE_SHARE)
        score = curve.peak / top * min(weakest, 1.0) * (1 - min(max(echo, 0.0), 1.0)) if curve.peak > 0 else 0.0
        rows.append(UnitClass(u.name, u.channel, None, member, float(score), curve.peak, preferred, curve.width(), echo, float(weakest),
                              detail=", ".join(f"{cue} {v:.2f}" for cue, v in shares.items()), curve=curve))
    return rows


def _colour(model, units, sweep, progress) -> list[UnitClass]:
    fields = torch.tensor([(0.5, 0.5, 0.5)] + list(HUES.values()), dtype=torch.float32)
    images = fields[:, :, None, None].expand(-1, -1, sweep.size, sweep.size).contiguous()
    responses = responses_at_centre(model, units, images, progress=progress)
    names = list(HUES)
    top = max(float(responses[1:].max()), 1e-12)
    rows = []
    for k, u in enumerate(units):
        grey, hues = responses[0, k], responses[1:, k]
        best = int(hues.argmax())
        ratio = float(hues[best] / grey) if grey > 0 else (np.inf if hues[best] > 0 else 0.0)
        others = np.delete(hues, best)
        lead = float(hues[best] / others.mean()) if others.mean() > 0 else (np.inf if hues[best] > 0 else 0.0)
        member = bool(hues[best] >= PEAK_FLOOR * top and ratio >= 2.0 and lead >= 1.5)
        score = float(hues[best] / top * min(ratio, 10.0) / 10.0) if hues[best] > 0 else 0.0
        rows.append(UnitClass(u.name, u.channel, None, member, score, float(hues[best]), float("nan"), float("nan"),
                              float("nan"), ratio, detail=names[best]))
    return rows
