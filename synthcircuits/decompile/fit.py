"""Fitting the spec language's connection rules to trained expanded weights.

A rule says weight(target j, source i, position) = spatial(position in j's frame) x
tuning(orientation of i - orientation of j - the orientation expected at that position).
For each spatial pattern the language has (`center`, `along_line`, `along_arc`, over a grid
of their parameters) the weights are linear in the tuning table's values: each table knot is
a hat function, and the compiler's own `rule_weights` evaluates it. So every candidate is a
least-squares problem, and the best candidate (by explained variance) is the fitted rule.
Predictions come from the compiler's code, so the fitted rule compiles to what was fitted.

A candidate may hold several patterns fitted together, each with its own table: the two sides
of a receptive field (`region` top and bottom, left and right, centre and surround), as a
high-low frequency or colour contrast unit reads one input positively on one side and
negatively on the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..kernels.connections import rule_weights
from ..language.model import Family, InputRule, Tuning
from .families import MeasuredFamily

KNOT_STEP = 15.0
Pattern = tuple[str, dict]  # a spatial rule and its parameters, as a spec writes them
Candidate = tuple[Pattern, ...]  # patterns fitted together, each with its own table

# Shapes along a path, for curve and line inputs.
PATH_CANDIDATES: tuple[Candidate, ...] = (
    (("center", {}),),
    *((("along_line", {"length": length, "width": width}),) for length in (1.0, 2.0) for width in (0.4, 0.7)),
    *((("along_arc", {"radius": radius, "width": width}),) for radius in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)
      for width in (0.4, 0.6, 0.8, 1.2, 2.5)),
)
# The two sides of the receptive field, in the target's frame, and the position between them
# (all a 1x1 unit has).
SIDE_CANDIDATES: tuple[Candidate, ...] = (
    *((("region", {"side": a}), ("region", {"side": b}), ("center", {})) for a, b in (("top", "bottom"), ("left", "right"))),
    (("region", {"side": "centre"}), ("region", {"side": "surround"})),
)
NEGLIGIBLE = 1e-6  # a part whose weights are this small beside the rule's largest is left out of the rule


@dataclass(frozen=True)
class RulePart:
    spatial: str
    params: dict
    table: list[tuple[float, float]]  # (degrees of orientation or hue difference, weight)

    def tuning(self) -> Tuning:
        return Tuning(table=tuple(self.table))

    @property
    def profile(self) -> np.ndarray:
        return np.array([w for _, w in self.table])

    @property
    def words(self) -> str:
        """As a spec writes the pattern: `along_arc: {radius: 4, width: 2.5}`."""
        return f"{self.spatial}: {{{', '.join(f'{k}: {v:g}' if isinstance(v, float) else f'{k}: {v}' for k, v in self.params.items())}}}"


@dataclass
class FittedRule:
    source: MeasuredFamily
    parts: tuple[RulePart, ...]  # one rule of the spec each
    r: float  # correlation of fitted and trained weights over the pair
    explained: float  # 1 - residual / variance
    energy: float  # the pair's share of the targets' squared weights on the whole input layer
    predicted: np.ndarray  # (targets, sources, k, k) at the largest target kernel, zero outside each target's own

    @property
    def pattern(self) -> str:
        return " + ".join(p.words for p in self.parts)


def knots(period: int) -> list[float]:
    return list(np.arange(0.0, period / 2 + 1e-9, KNOT_STEP))


def as_family(measured: MeasuredFamily, name: str, layer: str) -> Family:
    return Family(name, layer, None, tuple(measured.orientations), False, measured.period, (0.0,), None, 0.0, None, (), (),
                  axis=measured.axis)


def fit_rule(weights: np.ndarray, targets: MeasuredFamily, kernel_sizes: Sequence[int], source: MeasuredFamily,
             total_energy: float, candidates: Sequence[Candidate] = PATH_CANDIDATES) -> FittedRule:
    """`weights`: (targets, sources, K, K) trained expanded weights, centred in the largest kernel K;
    `kernel_sizes`: each target's own kernel (1, 3 or 5)."""
    size = weights.shape[-1]
    target_family, source_family = as_family(targets, "target", ""), as_family(source, "source", "")
    # A single source unit has no orientation to differ in: only the table's value at 0 applies.
    marks = knots(source.period) if len(source.units) > 1 else [0.0]
    mask = np.zeros(weights.shape, dtype=bool)
    for j, k in enumerate(kernel_sizes):
        pad = (size - k) // 2
        mask[j, :, pad : pad + k, pad : pad + k] = True
    y = weights[mask]
    best = None
    for candidate in candidates:
        columns = np.stack([_basis(spatial, params, target_family, source_family, kernel_sizes, size, marks, m)[mask]
                            for spatial, params in candidate for m in range(len(marks))], 1)
        values, *_ = np.linalg.lstsq(columns, y, rcond=None)
        fitted = columns @ values
        residual = float(((y - fitted) ** 2).sum())
        if best is None or residual < best[0]:
            best = (residual, candidate, values, fitted)
    residual, candidate, values, fitted = best
    variance = float(((y - y.mean()) ** 2).sum())
    predicted = np.zeros(weights.shape)
    predicted[mask] = fitted
    r = float(np.corrcoef(fitted, y)[0, 1]) if fitted.std() > 0 and y.std() > 0 else 0.0
    tables = values.reshape(len(candidate), len(marks))
    largest = max(float(np.abs(tables).max()), 1e-30)
    parts = tuple(RulePart(spatial, dict(params), [(float(a), float(v)) for a, v in zip(marks, row)])
                  for (spatial, params), row in zip(candidate, tables) if np.abs(row).max() > NEGLIGIBLE * largest)
    return FittedRule(source, parts, r, 1.0 - residual / variance if variance > 0 else 0.0,
                      float((y**2).sum()) / max(total_energy, 1e-30), predicted)


def lands(part: RulePart, kernel_size: int) -> bool:
    """Whether the part's pattern puts any position inside a kernel of this size (a side region
    does not in a 1x1 kernel)."""
    one = Family("one", "", None, (0.0,), False, 360, (0.0,), None, 0.0, None, (), ())
    rule = InputRule("one", part.spatial, part.params, Tuning(every=True), 1.0, ())
    return bool(np.any(rule_weights(rule, one, one, kernel_size) != 0))


def _basis(spatial: str, params: dict[str, float], target: Family, source: Family, kernel_sizes: Sequence[int], size: int,
           marks: list[float], m: int) -> np.ndarray:
    """The weights the rule gives when its table is 1 at knot m and 0 elsewhere, each target at its own kernel."""
    table = tuple((a, 1.0 if i == m else 0.0) for i, a in enumerate(marks))
    rule = InputRule("source", spatial, params, Tuning(table=table), 1.0, ())
    out = np.zeros((target.size, source.size, size, size))
    for k in sorted(set(kernel_sizes)):
        rows = [j for j, kk in enumerate(kernel_sizes) if kk == k]
        part = Family(target.name, target.layer, None, tuple(target.orientations[j] for j in rows), False, target.period, (0.0,),
                      None, 0.0, None, (), (), axis=target.axis)
        w = rule_weights(rule, part, source, k)
        pad = (size - k) // 2
        out[rows, :, pad : pad + k, pad : pad + k] = w
    return out
