"""Mirror partners: for every unit of a layer, the unit whose answers to left-right flipped
inputs best match its answers to the originals.

Each input x gives two vectors per layer: a(x), every unit's mean answer over the map on x, and
b(x), the same on x flipped. If unit j is unit i's mirror image, b_j(x) = a_i(x) for every x (a
left-facing detector sees in the flipped picture what its right-facing partner saw in the
original). The statistic is the correlation over inputs of a_i with b_j, accumulated in
float64 sums, so memory is (units x units) whatever the number of inputs.

A unit is
- in a mirror pair with j when j is its best match, i is j's, and i != j;
- its own mirror (a "union", left-right invariant) when its best match is itself;
- one-way when its best match j has another best match;
- silent when it answered (above zero) fewer than `MIN_ANSWERED` inputs: a unit that answers one
  stimulus correlates perfectly with any unit that answers only its mirror image, which says
  nothing about either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

KINDS = ("pair", "self", "one-way", "silent")
MIN_ANSWERED = 5  # inputs a unit must answer, on the originals and on the flips, to be paired at all


class MirrorStatistics:
    """Running sums for the correlation of a_i(x) with b_j(x) over inputs x."""

    def __init__(self, units: int):
        self.n = 0
        self.sum_a = np.zeros(units)
        self.sum_b = np.zeros(units)
        self.sum_aa = np.zeros(units)
        self.sum_bb = np.zeros(units)
        self.sum_ab = np.zeros((units, units))
        self.answered = np.zeros(units, dtype=np.int64)  # inputs answered above zero, originals
        self.answered_flipped = np.zeros(units, dtype=np.int64)

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        """A batch: a and b of shape (inputs, units), answers to the originals and to their flips."""
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            raise ValueError("answers must be finite")
        self.n += len(a)
        self.sum_a += a.sum(0)
        self.sum_b += b.sum(0)
        self.sum_aa += (a * a).sum(0)
        self.sum_bb += (b * b).sum(0)
        self.sum_ab += a.T @ b
        self.answered += (a > 0).sum(0)
        self.answered_flipped += (b > 0).sum(0)

    def live(self) -> np.ndarray:
        """Units that varied and answered at least MIN_ANSWERED inputs both ways."""
        return (self.spread() > 0) & (self.answered >= MIN_ANSWERED) & (self.answered_flipped >= MIN_ANSWERED)

    def spread(self) -> np.ndarray:
        """Each unit's standard deviation over the original inputs."""
        return np.sqrt(np.maximum(self.sum_aa / max(self.n, 1) - (self.sum_a / max(self.n, 1)) ** 2, 0.0))

    def correlation(self) -> np.ndarray:
        """(units, units): entry (i, j) correlates unit i on originals with unit j on flips; 0 where either never varied."""
        n = max(self.n, 1)
        mean_a, mean_b = self.sum_a / n, self.sum_b / n
        cov = self.sum_ab / n - np.outer(mean_a, mean_b)
        sd_a = np.sqrt(np.maximum(self.sum_aa / n - mean_a**2, 0.0))
        sd_b = np.sqrt(np.maximum(self.sum_bb / n - mean_b**2, 0.0))
        scale = np.outer(sd_a, sd_b)
        live = scale > 1e-12 * max(float(scale.max(initial=0.0)), 1e-300)
        return np.where(live, cov / np.where(live, scale, 1.0), 0.0).clip(-1.0, 1.0)


class LayerMirrors:
    """One layer's statistics, and where each unit's strongest input came from."""

    def __init__(self, layer: str, width: int, side: int):
        self.layer, self.side = layer, side
        self.statistics = MirrorStatistics(width)
        self.best_value = np.full(width, -np.inf)
        self.best_input: list[tuple] = [()] * width
        self.inputs = 0  # stimuli or images (an image gives a sample per sampled position)

    def add(self, a: np.ndarray, b: np.ndarray, inputs: Sequence[tuple]) -> None:
        """Samples (rows of a and b) and the input each came from."""
        self.statistics.add(a, b)
        self.inputs += len(dict.fromkeys(inputs))
        rows = a.argmax(0)
        for unit in np.nonzero(a.max(0) > self.best_value)[0]:
            self.best_value[unit] = a[rows[unit], unit]
            self.best_input[unit] = inputs[rows[unit]]


@dataclass(frozen=True)
class MirrorUnit:
    unit: str
    channel: int
    kind: str  # one of KINDS
    partner: str | None  # its best match on flipped inputs (itself for a self-mirror unit)
    partner_channel: int | None
    correlation: float  # with the partner
    self_correlation: float  # with itself: how left-right invariant it is
    margin: float  # correlation with the partner minus the next best unit's

    def as_json(self) -> dict:
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(self).items()}


def mirror_partners(correlation: np.ndarray, names: Sequence[str], channels: Sequence[int], live: np.ndarray) -> list[MirrorUnit]:
    """Every unit's partner and kind, from a correlation matrix (see `MirrorStatistics`)."""
    c = np.where(live[:, None] & live[None, :], correlation, -np.inf)
    best = c.argmax(axis=1)
    units = []
    for i, name in enumerate(names):
        if not live[i]:
            units.append(MirrorUnit(name, int(channels[i]), "silent", None, None, float("nan"), float("nan"), float("nan")))
            continue
        j = int(best[i])
        row = np.sort(c[i][np.isfinite(c[i])])
        margin = float(row[-1] - row[-2]) if len(row) > 1 else float("nan")
        kind = "self" if j == i else ("pair" if best[j] == i else "one-way")
        units.append(MirrorUnit(name, int(channels[i]), kind, names[j], int(channels[j]), float(c[i, j]), float(correlation[i, i]), margin))
    return units


def pairs(units: Sequence[MirrorUnit]) -> list[tuple[MirrorUnit, MirrorUnit]]:
    """Each mirror pair once (the unit listed first has the lower channel), strongest first."""
    by_name = {u.unit: u for u in units}
    found = [(u, by_name[u.partner]) for u in units if u.kind == "pair" and u.channel < (u.partner_channel or 0)]
    return sorted(found, key=lambda p: -p[0].correlation)


def counts(units: Sequence[MirrorUnit]) -> dict[str, int]:
    return {kind: sum(u.kind == kind for u in units) for kind in KINDS}
