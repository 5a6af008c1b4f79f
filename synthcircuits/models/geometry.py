"""Spatial geometry of InceptionV1's stages: which input pixels a unit at a position sees.

Each stage applies a window (kernel, stride, padding before). A unit at output index o of
a stage sees input indices stride * o - pad ... stride * o - pad + kernel - 1. Compact nets
share these stages, so they share this geometry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .layout import INCEPTIONV1, Architecture


@dataclass(frozen=True)
class Window:
    kernel: int
    stride: int
    pad_before: int
    pad_after: int


Windows = Mapping[str, Window]


def layout_windows(arch: Architecture, first_conv_pad: tuple[int, int, int, int]) -> dict[str, Window]:
    """Windows of every spatial stage of a GoogLeNet-shaped layout, in forward order.

    Max pools are 3x3 stride 2 with one extra row/column at the far side (TF 'SAME' and
    Caffe's round-up give the same sizes); the global pool before the classifier has none.
    """
    windows: dict[str, Window] = {}
    for i, layer in enumerate(arch.layers):
        if layer.kind == "conv" and i == 0:
            windows[layer.name] = Window(layer.kernel, 2, first_conv_pad[0], first_conv_pad[1])
        elif layer.kind == "pool" and arch.layers[i + 1].kind == "linear":
            break
        elif layer.kind == "pool":
            windows[layer.name] = Window(3, 2, 0, 1)
        elif layer.branches:
            k = max(b.kernel for b in layer.branches)
            windows[layer.name] = Window(k, 1, k // 2, k // 2)
        elif layer.kind == "conv":
            windows[layer.name] = Window(layer.kernel, 1, layer.kernel // 2, layer.kernel // 2)
        elif layer.kind == "norm":
            windows[layer.name] = Window(1, 1, 0, 0)
    return windows


INCEPTIONV1_WINDOWS = layout_windows(INCEPTIONV1, (2, 3, 2, 3))


def model_windows(model) -> Windows:
    """The spatial geometry of a model's stages (InceptionV1's for compact nets and splices)."""
    arch = getattr(model, "architecture", INCEPTIONV1)
    pad = getattr(model, "FIRST_CONV_PAD", None)
    return INCEPTIONV1_WINDOWS if pad is None or arch is INCEPTIONV1 else layout_windows(arch, pad)


def stages_up_to(layer: str, windows: Windows = INCEPTIONV1_WINDOWS) -> list[str]:
    names = list(windows)
    if layer not in names:
        raise KeyError(f"no spatial geometry for {layer!r}")
    return names[: names.index(layer) + 1]


def output_size(layer: str, image_size: int, windows: Windows = INCEPTIONV1_WINDOWS) -> int:
    size = image_size
    for name in stages_up_to(layer, windows):
        w = windows[name]
        size = (size + w.pad_before + w.pad_after - w.kernel) // w.stride + 1
    return size


def input_span(layer: str, position: int, windows: Windows = INCEPTIONV1_WINDOWS) -> tuple[int, int]:
    """First and last input pixel index (inclusive, may lie outside the image) a unit sees."""
    lo = hi = position
    for name in reversed(stages_up_to(layer, windows)):
        w = windows[name]
        lo, hi = w.stride * lo - w.pad_before, w.stride * hi - w.pad_before + w.kernel - 1
    return lo, hi


def receptive_field_center(layer: str, position: int, windows: Windows = INCEPTIONV1_WINDOWS) -> float:
    """Centre of a unit's receptive field in continuous pixel coordinates (pixel i spans [i, i+1))."""
    lo, hi = input_span(layer, position, windows)
    return (lo + hi + 1) / 2


def centre_position(layer: str, image_size: int, windows: Windows = INCEPTIONV1_WINDOWS) -> int:
    """The position of `layer` whose receptive field is centred closest to the image centre."""
    n = output_size(layer, image_size, windows)
    return min(range(n), key=lambda p: abs(receptive_field_center(layer, p, windows) - image_size / 2))
