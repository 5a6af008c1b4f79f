"""Fitting the spec language's connection rules to trained expanded weights.

A rule says weight(target j, source i, position) = spatial(position in j's frame) x
tuning(orientation of i - orientation of j - the orientation expected at that position).
For each spatial pattern the language has (`center`, `along_line`, `along_arc`, over a grid
of their parameters) the weights are linear in the tuning table's values: each table knot is
a hat function, and the compiler's own `rule_weights` evaluates it. So every candidate is a
least-squares problem, and the best candidate (by explained variance) is the fitted rule.
Predictions come from the compiler's code, so the fitted rule compiles to what was fitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..kernels.connections import rule_weights
from ..language.model import Family, InputRule, Tuning
from .families import MeasuredFamily

KNOT_STEP = 15.0
SPATIAL_CANDIDATES: tuple[tuple[str, dict[str, float]], ...] = (
    ("center", {}),
    *(("along_line", {"length": length, "width": width}) for length in (1.0, 2.0) for width in (0.4, 0.7)),
    *(("along_arc", {"radius": radius, "width": width}) for radius in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0) for width in (0.4, 0.6, 0.8, 1.2)),
)


@dataclass
class FittedRule:
    source: MeasuredFamily
    spatial: str
    params: dict[str, float]
    table: list[tuple[float, float]]  # (degrees of orientation difference, weight)
    r: float  # correlation of fitted and trained weights over the pair
    explained: float  # 1 - residual / variance
    energy: float  # the pair's share of the targets' squared weights on the whole input layer
    predicted: np.ndarray  # (targets, sources, k, k) at the largest target kernel, zero outside each target's own

    def tuning(self) -> Tuning:
        return Tuning(table=tuple(self.table))

    @property
    def profile(self) -> np.ndarray:
        return np.array([w for _, w in self.table])


def knots(period: int) -> list[float]:
    return list(np.arange(0.0, period / 2 + 1e-9, KNOT_STEP))


def as_family(measured: MeasuredFamily, name: str, layer: str) -> Family:
    return Family(name, layer, None, tuple(measured.orientations), False, measured.period, (0.0,), None, 0.0, None, (), ())


def fit_rule(weights: np.ndarray, targets: MeasuredFamily, kernel_sizes: Sequence[int], source: MeasuredFamily,
             total_energy: float) -> FittedRule:
    """`weights`: (targets, sources, K, K) trained expanded weights, centred in the largest kernel K;
    `kernel_sizes`: each target's own kernel (1, 3 or 5)."""
    size = weights.shape[-1]
    target_family, source_family = as_family(targets, "target", ""), as_family(source, "source", "")
    marks = knots(source.period)
    mask = np.zeros(weights.shape, dtype=bool)
    for j, k in enumerate(kernel_sizes):
        pad = (size - k) // 2
        mask[j, :, pad : pad + k, pad : pad + k] = True
    y = weights[mask]
    best = None
    for spatial, params in SPATIAL_CANDIDATES:
        columns = np.stack([_basis(spatial, params, target_family, source_family, kernel_sizes, size, marks, m)[mask]
                            for m in range(len(marks))], 1)
        values, *_ = np.linalg.lstsq(columns, y, rcond=None)
        fitted = columns @ values
        residual = float(((y - fitted) ** 2).sum())
        if best is None or residual < best[0]:
            best = (residual, spatial, params, values, fitted)
    residual, spatial, params, values, fitted = best
    variance = float(((y - y.mean()) ** 2).sum())
    predicted = np.zeros(weights.shape)
    predicted[mask] = fitted
    r = float(np.corrcoef(fitted, y)[0, 1]) if fitted.std() > 0 and y.std() > 0 else 0.0
    return FittedRule(source, spatial, dict(params), [(float(a), float(v)) for a, v in zip(marks, values)], r,
                      1.0 - residual / variance if variance > 0 else 0.0, float((y**2).sum()) / max(total_energy, 1e-30), predicted)


def _basis(spatial: str, params: dict[str, float], target: Family, source: Family, kernel_sizes: Sequence[int], size: int,
           marks: list[float], m: int) -> np.ndarray:
    """The weights the rule gives when its table is 1 at knot m and 0 elsewhere, each target at its own kernel."""
    table = tuple((a, 1.0 if i == m else 0.0) for i, a in enumerate(marks))
    rule = InputRule("source", spatial, params, Tuning(table=table), 1.0, ())
    out = np.zeros((target.size, source.size, size, size))
    for k in sorted(set(kernel_sizes)):
        rows = [j for j, kk in enumerate(kernel_sizes) if kk == k]
        part = Family(target.name, target.layer, None, tuple(target.orientations[j] for j in rows), False, target.period, (0.0,),
                      None, 0.0, None, (), ())
        w = rule_weights(rule, part, source, k)
        pad = (size - k) // 2
        out[rows, :, pad : pad + k, pad : pad + k] = w
    return out
