"""The effect of an edit on predictions: base vs edited model over an image folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..images import load_image
from ..dataset.items import Item
from ..labels import label_of, labels_for
from ..tables import format_table


@dataclass
class ImageEffect:
    image: str
    truth: str | None
    before: str
    p_before: float
    after: str
    p_after: float
    flipped: bool


@dataclass
class EffectReport:
    images: list[ImageEffect]
    class_changes: list[tuple[str, float, float]]  # class, mean p before, mean change
    accuracy: dict[str, float] = field(default_factory=dict)  # top1/top5 before/after, labelled folders only

    @property
    def flipped(self) -> list[ImageEffect]:
        return [e for e in self.images if e.flipped]

    def tables(self) -> str:
        per_image = format_table(
            ["image", "truth", "top-1 before", "p", "top-1 after", "p", "flipped"],
            [[e.image, e.truth or "", e.before, e.p_before, e.after, e.p_after, "yes" if e.flipped else ""] for e in self.images],
        )
        classes = format_table(["class", "mean p before", "mean change"], [list(c) for c in self.class_changes])
        text = f"{per_image}\n\n{len(self.flipped)} of {len(self.images)} top-1 predictions changed\n\n{classes}"
        if self.accuracy:
            acc = format_table(["accuracy", "before", "after"], [
                ["top-1", self.accuracy["top1_before"], self.accuracy["top1_after"]],
                ["top-5", self.accuracy["top5_before"], self.accuracy["top5_after"]],
            ])
            text += f"\n\n{acc}"
        return text

    def as_json(self) -> dict:
        return {"images": [asdict(e) for e in self.images], "flipped": len(self.flipped),
                "class_changes": [{"class": c, "mean_p_before": b, "mean_change": d} for c, b, d in self.class_changes],
                "accuracy": self.accuracy}


def class_probabilities(model: nn.Module, images: Tensor) -> Tensor:
    with torch.no_grad():
        return torch.softmax(model(images), dim=1)


def predictions(p: Tensor, k: int = 1, valid: range = range(1, 1001)) -> Tensor:
    """Top-k class indices among the logits that name classes."""
    masked = torch.full_like(p, -1.0)
    masked[:, valid.start : valid.stop] = p[:, valid.start : valid.stop]
    return masked.topk(k, dim=1).indices


def measure_effect(base: nn.Module, edited: nn.Module, images: Sequence[Item], batch_size: int = 16, size: int = 224) -> EffectReport:
    device = next(base.parameters()).device
    arch = base.architecture.name
    _, valid = labels_for(arch)
    before, after = [], []
    for start in tqdm(range(0, len(images), batch_size), desc="images", unit="batch"):
        batch = torch.stack([load_image(i.path, size) for i in images[start : start + batch_size]]).to(device)
        before.append(class_probabilities(base, batch).cpu())
        after.append(class_probabilities(edited, batch).cpu())
    p0, p1 = torch.cat(before), torch.cat(after)
    top0, top1 = predictions(p0, 1, valid)[:, 0], predictions(p1, 1, valid)[:, 0]
    effects = [
        ImageEffect(str(img.path.name if img.label is None else f"{img.path.parent.name}/{img.path.name}"),
                    label_of(img.label, arch) if img.label is not None else None,
                    label_of(int(a), arch), float(p0[k, a]), label_of(int(b), arch), float(p1[k, b]), bool(a != b))
        for k, (img, a, b) in enumerate(zip(images, top0, top1))
    ]
    affected = sorted(set(top0.tolist()) | set(top1.tolist()))
    change = (p1 - p0).mean(0)
    class_changes = sorted(((label_of(c, arch), float(p0[:, c].mean()), float(change[c])) for c in affected), key=lambda r: -abs(r[2]))
    accuracy = {}
    labels = [i.label for i in images]
    if all(label is not None for label in labels):
        truth = torch.tensor(labels)
        for name, p in (("before", p0), ("after", p1)):
            top5 = predictions(p, 5, valid)
            accuracy[f"top1_{name}"] = float((top5[:, 0] == truth).float().mean())
            accuracy[f"top5_{name}"] = float((top5 == truth[:, None]).any(1).float().mean())
    return EffectReport(effects, class_changes, accuracy)
