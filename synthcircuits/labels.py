"""Class names of each architecture's logits.

InceptionV1: 1008 logits in the order its label file gives (index 0 is "dummy", 1001-1007
are unused). BVLC and torchvision GoogLeNet: the standard 1000-class ImageNet order, as
torchvision ships it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

VALID = range(1, 1001)  # logits that name a class


@cache
def inceptionv1_labels() -> tuple[str, ...]:
    text = resources.files("synthcircuits").joinpath("data/inceptionv1_labels.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines())


@cache
def imagenet_labels() -> tuple[str, ...]:
    from torchvision.models import GoogLeNet_Weights

    return tuple(GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"])


def labels_for(architecture: str) -> tuple[tuple[str, ...], range]:
    """(names by logit index, the logits that name classes)."""
    if architecture == "inceptionv1":
        return inceptionv1_labels(), VALID
    return imagenet_labels(), range(0, 1000)


def label_of(index: int, architecture: str = "inceptionv1") -> str:
    labels, _ = labels_for(architecture)
    return labels[index] if 0 <= index < len(labels) else f"unused logit {index}"


def normalise(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


@cache
def index_by_name(architecture: str = "inceptionv1") -> dict[str, int]:
    labels, valid = labels_for(architecture)
    return {normalise(name): i for i, name in enumerate(labels) if i in valid}
