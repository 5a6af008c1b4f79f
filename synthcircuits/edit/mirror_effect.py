"""An edit's effect on each image against its effect on the image's mirror image, measurable
without labels for facing: "dropping the right-facing head+neck detector causes animals facing
right to be misclassified" predicts that an image and its left-right flip lose differently.

`Mirrored` wraps any per-image job of the runner that reports `before.p` / `after.p` (class
probabilities without and with the edit): it also runs every image flipped, under `mirror.`.
Per image, the effect is the probability the unedited model's top-1 class loses; the
asymmetry is the effect on the original minus the effect on the flip. Means come with 95%
bootstrap intervals (images resampled; original and flip drawn together, so the asymmetry's
interval is paired).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from torch import Tensor

from ..labels import label_of
from ..tables import format_table

PREFIX = "mirror."


class Mirrored:
    """`job`, run on every image and on its left-right flip."""

    def __init__(self, job):
        self.job = job

    def to(self, device: str) -> Mirrored:
        return Mirrored(self.job.to(device))

    def describe(self) -> dict:
        return {**self.job.describe(), "mirrored": True}

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        out = self.job.process(images)
        out.update({PREFIX + k: v for k, v in self.job.process(images.flip(-1)).items()})
        return out


@dataclass
class MirrorImage:
    image: str
    top1: str  # the unedited model's top-1 on the image
    effect: float  # probability that class loses with the edit
    mirror_top1: str  # on the flipped image
    mirror_effect: float

    @property
    def asymmetry(self) -> float:
        return self.effect - self.mirror_effect


@dataclass
class MirrorReport:
    images: list[MirrorImage]
    summary: dict[str, float]  # effect, mirror_effect, asymmetry, |asymmetry|: mean, _low, _high

    def tables(self, rows: int = 10) -> str:
        s = self.summary
        overall = format_table(["over {} images (95% bootstrap interval)".format(len(self.images)), "mean"], [
            [name, f"{s[key]:+.4f} [{s[key + '_low']:+.4f}, {s[key + '_high']:+.4f}]"]
            for name, key in (("effect on the originals (p lost by the top-1)", "effect"),
                              ("effect on their mirror images", "mirror_effect"),
                              ("asymmetry (original - mirror)", "asymmetry"),
                              ("|asymmetry|", "abs_asymmetry"))])
        most = sorted(self.images, key=lambda e: -abs(e.asymmetry))[:rows]
        table = format_table(["most asymmetric", "top-1", "effect", "mirror's top-1", "mirror effect", "asymmetry"],
                             [[e.image, e.top1, e.effect, e.mirror_top1, e.mirror_effect, e.asymmetry] for e in most])
        return f"{overall}\n\n{table}"

    def as_json(self) -> dict:
        return {"summary": self.summary,
                "images": [dict(asdict(e), asymmetry=e.asymmetry) for e in self.images],
                "most_asymmetric": [e.image for e in sorted(self.images, key=lambda e: -abs(e.asymmetry))[:10]]}


def mirror_rows(shard: dict[str, np.ndarray], k: int, arch: str) -> tuple[str, float, str, float]:
    """(top-1, effect, mirror's top-1, mirror effect) of image k of a mirrored shard."""
    out = []
    for prefix in ("", PREFIX):
        before, after = shard[prefix + "before.p"][k].astype(np.float64), shard[prefix + "after.p"][k].astype(np.float64)
        c = int(shard[prefix + "before.top5"][k, 0])
        out += [label_of(c, arch), float(before[c] - after[c])]
    return tuple(out)


def mirror_report(names: Sequence[str], rows: Sequence[tuple[str, float, str, float]], draws: int = 2000, seed: int = 0) -> MirrorReport:
    images = [MirrorImage(name, *row) for name, row in zip(names, rows)]
    effect = np.array([e.effect for e in images])
    mirror = np.array([e.mirror_effect for e in images])
    series = {"effect": effect, "mirror_effect": mirror, "asymmetry": effect - mirror, "abs_asymmetry": np.abs(effect - mirror)}
    rng = np.random.default_rng(seed)
    n = len(images)
    summary: dict[str, float] = {}
    samples = {k: np.empty(draws) for k in series}
    for start in range(0, draws, 100):  # 100 resamples at a time: memory O(100 n)
        idx = rng.integers(0, n, size=(min(100, draws - start), n))
        for k, values in series.items():
            samples[k][start : start + len(idx)] = values[idx].mean(1)
    for k, values in series.items():
        summary[k] = float(values.mean())
        summary[k + "_low"], summary[k + "_high"] = (float(v) for v in np.percentile(samples[k], [2.5, 97.5]))
    return MirrorReport(images, summary)
