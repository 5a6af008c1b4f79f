"""Faithfulness measures over images, with paired bootstrap intervals.

For each variant network against the trained one: top-1 agreement, mean KL(trained || variant),
the readout layer's pooled correlation with the trained network's, and with labels top-1/top-5
accuracy. A circuit's recovered fraction of a measure against an ablation is
`1 - gap(spliced) / gap(ablated)`, where a gap is how far the variant is from the trained
network (1 - agreement, KL, 1 - r, the accuracy lost). Every interval resamples images, the
same draws for every variant, so differences and ratios are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MEASURES = ("top1_agreement", "kl", "readout_r", "top1", "top5")
LABELLED = ("top1", "top5")
WORDS = {"top1_agreement": "top-1 agreement", "kl": "KL(trained || edited)", "readout_r": "readout r",
         "top1": "top-1 accuracy", "top5": "top-5 accuracy"}


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""

    def as_json(self) -> dict:
        out = {"value": self.value, "low": self.low, "high": self.high}
        return {**out, "note": self.note} if self.note else out

    def text(self, digits: int = 3, signed: bool = False) -> str:
        if self.value is None:
            return self.note or "n/a"
        f = f"{{:{'+' if signed else ''}.{digits}f}}"
        if self.low is None:
            return f"{f.format(self.value)} (no interval)"
        return f"{f.format(self.value)} [{f.format(self.low)}, {f.format(self.high)}]"


@dataclass(frozen=True)
class PerImage:
    """Each image's figures for one variant (the trained network's own hits included, labelled)."""

    agree: np.ndarray  # (n,) bool: same top-1 as the trained network
    kl: np.ndarray  # (n,)
    readout: np.ndarray  # (n, 5): sums x, y, xx, yy, xy (x trained, y variant)
    hit1: np.ndarray | None = None  # (n,) bool, labelled folders only
    hit5: np.ndarray | None = None


def per_image(arrays: Mapping[str, np.ndarray], name: str, labels: np.ndarray | None) -> PerImage:
    trained, top5 = arrays["trained.top5"], arrays[f"{name}.top5"]
    hits = (top5[:, 0] == labels, (top5 == labels[:, None]).any(1)) if labels is not None else (None, None)
    return PerImage(top5[:, 0] == trained[:, 0], arrays[f"{name}.kl"], arrays[f"{name}.readout"], *hits)


def trained_hits(arrays: Mapping[str, np.ndarray], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top5 = arrays["trained.top5"]
    return top5[:, 0] == labels, (top5 == labels[:, None]).any(1)


def _statistics(v: PerImage, count: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Every measure over the image sets `idx` ((draws, n) indices), one value per draw."""
    sums = v.readout[idx].sum(-2)
    n = count[idx].sum(-1).astype(np.float64)
    sx, sy, sxx, syy, sxy = (sums[..., k] for k in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (n * sxy - sx * sy) / np.sqrt(np.maximum(n * sxx - sx * sx, 0) * np.maximum(n * syy - sy * sy, 0))
    out = {"top1_agreement": v.agree[idx].mean(-1), "kl": v.kl[idx].mean(-1), "readout_r": r}
    if v.hit1 is not None:
        out["top1"], out["top5"] = v.hit1[idx].mean(-1), v.hit5[idx].mean(-1)
    return out


GAPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "top1_agreement": lambda value, trained: 1.0 - value,
    "kl": lambda value, trained: value,
    "readout_r": lambda value, trained: 1.0 - value,
    "top1": lambda value, trained: trained - value,
    "top5": lambda value, trained: trained - value,
}


def summarise(variants: Mapping[str, PerImage], count: np.ndarray, trained: tuple[np.ndarray, np.ndarray] | None,
              comparisons: Sequence[tuple[str, str, str]], draws: int = 2000, seed: int = 0) -> tuple[dict, dict]:
    """(each variant's measures, each comparison's recovered fractions) as Estimates.

    `comparisons`: (name, circuit variant, ablated variant); `trained`: the trained network's
    (top-1, top-5) hits where the folder is labelled."""
    n = len(count)
    everyone = np.arange(n)[None]
    names = list(variants)
    point = {name: _statistics(variants[name], count, everyone) for name in names}
    own = _own_accuracy(trained, everyone) if trained is not None else {}
    chunk = max(1, min(200, 4_000_000 // max(1, n * len(names))))  # draws at a time: memory stays bounded
    rng = np.random.default_rng(seed)
    samples: dict[str, dict[str, list]] = {name: {} for name in names}
    own_samples: dict[str, list] = {}
    for start in range(0, draws, chunk):
        idx = rng.integers(0, n, size=(min(chunk, draws - start), n))
        for name in names:
            for measure, values in _statistics(variants[name], count, idx).items():
                samples[name].setdefault(measure, []).append(values)
        if trained is not None:
            for measure, values in _own_accuracy(trained, idx).items():
                own_samples.setdefault(measure, []).append(values)
    drawn = {name: {m: np.concatenate(v) for m, v in by.items()} for name, by in samples.items()}
    own_drawn = {m: np.concatenate(v) for m, v in own_samples.items()}
    measures = {name: {m: _estimate(float(point[name][m][0]), drawn[name][m]) for m in point[name]} for name in names}
    if trained is not None:
        measures["trained"] = {m: _estimate(float(own[m][0]), own_drawn[m]) for m in own}
    recovered = {}
    for label, circuit, ablated in comparisons:
        recovered[label] = {}
        for m in point[circuit]:
            base_point, base_drawn = (own[m][0], own_drawn[m]) if m in LABELLED else (None, None)
            gap_c = GAPS[m](point[circuit][m][0], base_point)
            gap_a = GAPS[m](point[ablated][m][0], base_point)
            drawn_c = GAPS[m](drawn[circuit][m], base_drawn)
            drawn_a = GAPS[m](drawn[ablated][m], base_drawn)
            recovered[label][m] = _recovered(float(gap_c), float(gap_a), drawn_c, drawn_a)
    return measures, recovered


def _own_accuracy(trained: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {"top1": trained[0][idx].mean(-1), "top5": trained[1][idx].mean(-1)}


def _estimate(value: float, drawn: np.ndarray) -> Estimate:
    if not np.isfinite(value):
        return Estimate(None, note="undefined (a constant readout)")
    low, high = np.nanpercentile(drawn, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


def _recovered(gap_c: float, gap_a: float, drawn_c: np.ndarray, drawn_a: np.ndarray) -> Estimate:
    if not (np.isfinite(gap_c) and np.isfinite(gap_a)):
        return Estimate(None, note="undefined")
    if gap_a <= 1e-12:
        return Estimate(None, note="the ablation costs nothing here")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(drawn_a > 1e-12, 1.0 - drawn_c / drawn_a, np.nan)
    finite = ratios[np.isfinite(ratios)]
    if len(finite) < 0.5 * len(ratios):
        return Estimate(1.0 - gap_c / gap_a, None, None, "no interval: the ablation's cost is 0 in most resamples")
    low, high = np.percentile(finite, [2.5, 97.5])
    return Estimate(1.0 - gap_c / gap_a, float(low), float(high))
