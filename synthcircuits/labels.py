"""Class names of InceptionV1's 1008 logits (index 0 is "dummy"; 1001-1007 are unused)."""

from __future__ import annotations

from functools import cache
from importlib import resources

VALID = range(1, 1001)  # logits that name a class


@cache
def inceptionv1_labels() -> tuple[str, ...]:
    text = resources.files("synthcircuits").joinpath("data/inceptionv1_labels.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines())


def label_of(index: int) -> str:
    labels = inceptionv1_labels()
    return labels[index] if 0 <= index < len(labels) else f"unused logit {index}"


def normalise(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").lower().split())


@cache
def index_by_name() -> dict[str, int]:
    return {normalise(name): i for i, name in enumerate(inceptionv1_labels()) if i in VALID}
