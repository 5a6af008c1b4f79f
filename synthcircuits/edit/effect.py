"""The effect of an edit on predictions: base vs edited model over an image dataset.

Both models run through the dataset runner (streamed, in shards, unreadable images skipped and
listed); per image it keeps both models' top-5 and the class probabilities. Accuracies come
with 95% bootstrap intervals (images resampled, the same draws for before and after, so the
interval of the change is paired), per class where the folder is labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..dataset.items import Item
from ..dataset.runner import RunOptions, failures, read_shards, run_and_read
from ..labels import label_of, labels_for
from ..tables import format_table
from .mirror_effect import PREFIX, Mirrored, MirrorReport, mirror_report, mirror_rows


@dataclass
class ImageEffect:
    image: str
    truth: str | None
    before: str
    p_before: float
    after: str
    p_after: float
    flipped: bool
    p_before_class_after: float = 0.0  # the edited model's probability of the original top-1
    top5_before: list[tuple[str, float]] = field(default_factory=list)  # (class, p), when asked for
    top5_after: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class EffectReport:
    images: list[ImageEffect]
    class_changes: list[tuple[str, float, float]]  # class, mean p before, mean change
    accuracy: dict[str, float] = field(default_factory=dict)  # top1/top5 before/after (+ _low/_high, change), labelled only
    per_class: list[dict] = field(default_factory=list)  # class, images, top1/top5 before/after
    skipped: list[tuple[str, str]] = field(default_factory=list)  # images that could not be read, and why
    mirror: MirrorReport | None = None  # with --mirror: the effect on each image against its left-right flip

    @property
    def flipped(self) -> list[ImageEffect]:
        return [e for e in self.images if e.flipped]

    def most_flipped(self, count: int = 10) -> list[ImageEffect]:
        """The flipped images whose original top-1 lost the most probability."""
        return sorted(self.flipped, key=lambda e: -(e.p_before - e.p_before_class_after))[:count]

    def tables(self, rows: int = 40) -> str:
        per_image = format_table(
            ["image", "truth", "top-1 before", "p", "top-1 after", "p", "flipped"],
            [[e.image, e.truth or "", e.before, e.p_before, e.after, e.p_after, "yes" if e.flipped else ""] for e in self.images[:rows]],
        )
        more = f"\n... {len(self.images) - rows} more images in the JSON" if len(self.images) > rows else ""
        classes = format_table(["class", "mean p before", "mean change"], [list(c) for c in self.class_changes[:rows]])
        text = f"{per_image}{more}\n\n{len(self.flipped)} of {len(self.images)} top-1 predictions changed"
        if self.skipped:
            text += f"; {len(self.skipped)} images could not be read and were skipped (listed in the JSON)"
        if self.flipped:
            text += "\n\n" + format_table(["most flipped", "top-1 before", "p before", "p after", "now"],
                                           [[e.image, e.before, e.p_before, e.p_before_class_after, e.after] for e in self.most_flipped()])
        text += f"\n\n{classes}"
        if self.mirror is not None:
            text += "\n\neffect on each image against its mirror image (left-right flip):\n\n" + self.mirror.tables()
        if self.accuracy:
            a = self.accuracy
            text += "\n\n" + format_table(["accuracy (95% bootstrap interval)", "before", "after", "change"], [
                [k, f"{a[f'{k}_before']:.4f} [{a[f'{k}_before_low']:.4f}, {a[f'{k}_before_high']:.4f}]",
                 f"{a[f'{k}_after']:.4f} [{a[f'{k}_after_low']:.4f}, {a[f'{k}_after_high']:.4f}]",
                 f"{a[f'{k}_change']:+.4f} [{a[f'{k}_change_low']:+.4f}, {a[f'{k}_change_high']:+.4f}]"] for k in ("top1", "top5")])
        return text

    def as_json(self) -> dict:
        return {"images": [asdict(e) for e in self.images], "flipped": len(self.flipped),
                "most_flipped": [e.image for e in self.most_flipped()],
                "class_changes": [{"class": c, "mean_p_before": b, "mean_change": d} for c, b, d in self.class_changes],
                "accuracy": self.accuracy, "per_class": self.per_class,
                "skipped": [{"image": name, "reason": reason} for name, reason in self.skipped],
                **({"mirror": self.mirror.as_json()} if self.mirror is not None else {})}


class EffectJob:
    """Per image: both models' top-5 classes and full class probabilities (float16)."""

    def __init__(self, base: nn.Module, edited: nn.Module, valid: range):
        self.base, self.edited, self.valid = base.eval(), edited.eval(), valid

    def to(self, device: str) -> EffectJob:
        return EffectJob(self.base.to(device), self.edited.to(device), self.valid)

    def describe(self) -> dict:
        from ..models.weights import content_hash

        return {"kind": "edit-effect", "base_sha256": content_hash(self.base.state_dict()),
                "edited_sha256": content_hash(self.edited.state_dict())}

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        device = next(self.base.parameters()).device
        images = images.to(device)
        out = {}
        for name, model in (("before", self.base), ("after", self.edited)):
            p = class_probabilities(model, images)
            out[f"{name}.top5"] = predictions(p, 5, self.valid).cpu().numpy()
            out[f"{name}.p"] = p.cpu().numpy().astype(np.float16)
        return out


def class_probabilities(model: nn.Module, images: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.softmax(model(images), dim=1)


def predictions(p: Tensor, k: int = 1, valid: range = range(1, 1001)) -> Tensor:
    """Top-k class indices among the logits that name classes."""
    masked = torch.full_like(p, -1.0)
    masked[:, valid.start : valid.stop] = p[:, valid.start : valid.stop]
    return masked.topk(k, dim=1).indices


def measure_effect(base: nn.Module, edited: nn.Module, images: Sequence[Item], batch_size: int = 16, size: int = 224,
                   folder: Path | None = None, workers: int = 2, ray: str | None = None, mirror: bool = False) -> EffectReport:
    """Run both models over `images` (shards in `folder`, resumable; a temporary folder if None),
    here or on Ray (`ray`: "local", "auto" or an address); with `mirror`, over their flips too."""
    arch = base.architecture.name
    _, valid = labels_for(arch)
    options = RunOptions(batch_size=batch_size, size=size, workers=workers, device=str(next(base.parameters()).device))
    job = Mirrored(EffectJob(base, edited, valid)) if mirror else EffectJob(base, edited, valid)
    return run_and_read(job, images, folder, options, lambda paths: effect_from_shards(paths, images, arch), ray=ray)


def effect_from_shards(paths: Sequence[Path], images: Sequence[Item], arch: str, top5: bool = False) -> EffectReport:
    """The report from a run's shards; with `top5`, each image also lists both top-5s with probabilities."""
    effects, labels, top_before, top_after = [], [], [], []
    mirrored: list[tuple] = []
    sum_before = sum_after = None
    for shard in read_shards(paths):
        if not len(shard["index"]):
            continue
        if PREFIX + "before.p" in shard:
            mirrored += [mirror_rows(shard, k, arch) for k in range(len(shard["index"]))]
        p0, p1 = shard["before.p"].astype(np.float64), shard["after.p"].astype(np.float64)
        sum_before = p0.sum(0) if sum_before is None else sum_before + p0.sum(0)
        sum_after = p1.sum(0) if sum_after is None else sum_after + p1.sum(0)
        for k, index in enumerate(shard["index"]):
            item = images[int(index)]
            a, b = int(shard["before.top5"][k, 0]), int(shard["after.top5"][k, 0])
            effects.append(ImageEffect(short_name(item),
                                       label_of(item.label, arch) if item.label is not None else None,
                                       label_of(a, arch), float(p0[k, a]), label_of(b, arch), float(p1[k, b]), a != b, float(p1[k, a]),
                                       *(_top5(shard[f"{when}.top5"][k], p, arch) for when, p in (("before", p0[k]), ("after", p1[k])))
                                       if top5 else ()))
            labels.append(item.label)
        top_before.append(shard["before.top5"])
        top_after.append(shard["after.top5"])
    skipped = failures(paths, images)
    if not effects:
        return EffectReport([], [], skipped=skipped)
    t0, t1 = np.concatenate(top_before), np.concatenate(top_after)
    mean_before, change = sum_before / len(effects), (sum_after - sum_before) / len(effects)
    affected = sorted(set(t0[:, 0].tolist()) | set(t1[:, 0].tolist()))
    class_changes = sorted(((label_of(c, arch), float(mean_before[c]), float(change[c])) for c in affected), key=lambda r: -abs(r[2]))
    accuracy, per_class = {}, []
    if all(label is not None for label in labels):
        truth = np.array(labels)
        hits = {("top1", "before"): t0[:, 0] == truth, ("top1", "after"): t1[:, 0] == truth,
                ("top5", "before"): (t0 == truth[:, None]).any(1), ("top5", "after"): (t1 == truth[:, None]).any(1)}
        accuracy = bootstrap_accuracy(hits)
        for c in sorted(set(labels)):
            mask = truth == c
            per_class.append({"class": label_of(c, arch), "images": int(mask.sum()),
                              **{f"{k}_{when}": float(v[mask].mean()) for (k, when), v in hits.items()}})
    mirror = mirror_report([e.image for e in effects], mirrored) if mirrored else None
    return EffectReport(effects, class_changes, accuracy, per_class, skipped, mirror)


def short_name(item: Item) -> str:
    """How reports name an image: its file name, with its class folder or its row in a .npy batch."""
    if item.row is not None:
        return f"{item.path.name}[{item.row}]"
    return item.path.name if item.label is None else f"{item.path.parent.name}/{item.path.name}"


def _top5(classes: np.ndarray, p: np.ndarray, arch: str) -> list[tuple[str, float]]:
    return [(label_of(int(c), arch), float(p[int(c)])) for c in classes]


def bootstrap_accuracy(hits: dict[tuple[str, str], np.ndarray], draws: int = 2000, seed: int = 0) -> dict[str, float]:
    """Accuracies before/after and their change, each with a 95% percentile bootstrap interval.
    Before and after are resampled with the same draws, so the change's interval is paired."""
    n = len(next(iter(hits.values())))
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for k in ("top1", "top5"):
        before, after = hits[(k, "before")].astype(np.float64), hits[(k, "after")].astype(np.float64)
        b_means, a_means = np.empty(draws), np.empty(draws)
        for start in range(0, draws, 100):  # 100 resamples at a time: memory stays O(100 n)
            idx = rng.integers(0, n, size=(min(100, draws - start), n))
            b_means[start : start + len(idx)] = before[idx].mean(1)
            a_means[start : start + len(idx)] = after[idx].mean(1)
        for name, value, samples in (("before", before.mean(), b_means), ("after", after.mean(), a_means),
                                     ("change", after.mean() - before.mean(), a_means - b_means)):
            low, high = np.percentile(samples, [2.5, 97.5])
            out[f"{k}_{name}"], out[f"{k}_{name}_low"], out[f"{k}_{name}_high"] = float(value), float(low), float(high)
    return out
