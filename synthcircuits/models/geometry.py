"""Spatial geometry of InceptionV1's stages: which input pixels a unit at a position sees.

Each stage applies a window (kernel, stride, padding before). A unit at output index o of
a stage sees input indices stride * o - pad ... stride * o - pad + kernel - 1. Compact nets
share these stages, so they share this geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from .layout import INCEPTIONV1


@dataclass(frozen=True)
class Window:
    kernel: int
    stride: int
    pad_before: int
    pad_after: int


def _inceptionv1_windows() -> dict[str, Window]:
    windows: dict[str, Window] = {}
    for layer in INCEPTIONV1.layers:
        if layer.name == "conv2d0":
            windows[layer.name] = Window(7, 2, 2, 3)
        elif layer.name.startswith("maxpool"):
            windows[layer.name] = Window(3, 2, 0, 1)
        elif layer.branches:
            k = max(b.kernel for b in layer.branches)
            windows[layer.name] = Window(k, 1, k // 2, k // 2)
        elif layer.kind == "conv":
            windows[layer.name] = Window(layer.kernel, 1, layer.kernel // 2, layer.kernel // 2)
        elif layer.kind == "norm":
            windows[layer.name] = Window(1, 1, 0, 0)
    return windows


INCEPTIONV1_WINDOWS = _inceptionv1_windows()


def stages_up_to(layer: str) -> list[str]:
    names = [n for n in INCEPTIONV1.layer_names if n in INCEPTIONV1_WINDOWS]
    if layer not in names:
        raise KeyError(f"no spatial geometry for {layer!r}")
    return names[: names.index(layer) + 1]


def output_size(layer: str, image_size: int) -> int:
    size = image_size
    for name in stages_up_to(layer):
        w = INCEPTIONV1_WINDOWS[name]
        size = (size + w.pad_before + w.pad_after - w.kernel) // w.stride + 1
    return size


def input_span(layer: str, position: int) -> tuple[int, int]:
    """First and last input pixel index (inclusive, may lie outside the image) a unit sees."""
    lo = hi = position
    for name in reversed(stages_up_to(layer)):
        w = INCEPTIONV1_WINDOWS[name]
        lo, hi = w.stride * lo - w.pad_before, w.stride * hi - w.pad_before + w.kernel - 1
    return lo, hi


def receptive_field_center(layer: str, position: int) -> float:
    """Centre of a unit's receptive field in continuous pixel coordinates (pixel i spans [i, i+1))."""
    lo, hi = input_span(layer, position)
    return (lo + hi + 1) / 2


def centre_position(layer: str, image_size: int) -> int:
    """The position of `layer` whose receptive field is centred closest to the image centre."""
    n = output_size(layer, image_size)
    return min(range(n), key=lambda p: abs(receptive_field_center(layer, p) - image_size / 2))
