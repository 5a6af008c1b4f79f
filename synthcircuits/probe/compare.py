"""Comparing two models on the same units and stimuli: tuning-curve correlation, best match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..layout.address import UnitAddress
from ..opened import OpenedModel
from .tuning import ProbeUnit, RadialSweep, TuningCurve, responses_at_centre


@dataclass
class UnitComparison:
    unit: str
    curve_a: TuningCurve
    curve_b: TuningCurve  # B's unit at the same address
    correlation: float  # of A's and B's curves at the same address
    best_match: str  # B's unit (same layer) whose curve correlates best with A's
    best_correlation: float
    best_curve: TuningCurve

    def as_json(self) -> dict:
        return {
            "unit": self.unit, "correlation": self.correlation, "best_match": self.best_match,
            "best_correlation": self.best_correlation, "preferred_a": self.curve_a.preferred(),
            "preferred_b": self.curve_b.preferred(), "preferred_best": self.best_curve.preferred(),
            "angles": self.curve_a.angles.tolist(), "responses_a": self.curve_a.responses.tolist(),
            "responses_b": self.curve_b.responses.tolist(), "responses_best": self.best_curve.responses.tolist(),
        }


def correlations(curve: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Pearson correlation of one curve (S,) with each column of candidates (S, C); 0 where flat."""
    a = curve - curve.mean()
    b = candidates - candidates.mean(0)
    denominator = np.sqrt((a**2).sum() * (b**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a[:, None] * b).sum(0) / denominator
    return np.where(denominator > 0, r, 0.0)


def compare_models(a: OpenedModel, b: OpenedModel, units: Sequence[UnitAddress], sweep: RadialSweep = RadialSweep(), rotate_b: float = 0.0,
                   layer_b: str | None = None) -> list[UnitComparison]:
    """For each unit: A's tuning curve against B's same unit and against every unit of B's layer.

    `rotate_b` turns B's stimuli by that many degrees (a sanity check: the best match moves).
    `layer_b` names B's layer to search (any architecture); by default, the layer playing the
    same part as A's. Where B has no unit at A's address, "same unit" is B's best match.
    """
    angles = torch.tensor(sweep.angles, dtype=torch.float32)
    results = []
    for layer in dict.fromkeys(u.layer for u in units):
        group = [u for u in units if u.layer == layer]
        layer_a, searched = a.layer_of(layer), layer_b or b.layer_of(layer)
        probe_a = [ProbeUnit(str(u), layer_a, a.channel_of(u)) for u in group]
        resp_a = responses_at_centre(a.model, probe_a, sweep.render(layer_a, a.geometry()), angles)
        channels_b = list(range(b.layer_width(searched)))
        probe_b = [ProbeUnit(b.name_of(searched, c), searched, c) for c in channels_b]
        resp_b = responses_at_centre(b.model, probe_b, sweep.render(searched, b.geometry()), angles + rotate_b)
        for k, u in enumerate(group):
            r = correlations(resp_a[:, k], resp_b)
            best = int(np.argmax(r))
            same = _same_unit(b, u, searched, channels_b, best)
            curve = lambda resp, name: TuningCurve(name, sweep.angles, resp)  # noqa: E731
            results.append(UnitComparison(
                str(u), curve(resp_a[:, k], str(u)), curve(resp_b[:, same], str(u)), float(r[same]),
                probe_b[best].name, float(r[best]), curve(resp_b[:, best], probe_b[best].name),
            ))
    return results



def _same_unit(b: OpenedModel, unit: UnitAddress, searched: str, channels: list[int], best: int) -> int:
    """B's column for A's address where B has that unit in the searched layer, else the best match."""
    if layer_matches(b, unit.layer, searched) and unit.channel < len(channels):
        try:
            return channels.index(b.channel_of(unit))
        except UserError:  # a compact B without this unit
            return best
    return best


def layer_matches(b: OpenedModel, layer: str, searched: str) -> bool:
    try:
        return b.layer_of(layer) == searched
    except UserError:
        return False
