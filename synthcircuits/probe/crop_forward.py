"""Unit-level probing for any model with a geometry: run the network on the receptive field's
crop only.

A unit at position p of a layer depends only on the input pixels of its receptive field.
Crop the image to that field, starting on a multiple of the layer's stride so every
intermediate grid lines up with the full image's, and the unit's value on the crop equals
its value on the full image. Where the field reaches past the image the crop stops at the
border, where both runs pad alike. Each (model, layer) is checked once against a full
forward; a layer that does not agree (an op the geometry misread) falls back to the full
forward for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from weakref import WeakKeyDictionary

import torch
from torch import Tensor, nn

from ..models.capture import capture

_VERIFIED: WeakKeyDictionary[nn.Module, dict[tuple[str, int], bool]] = WeakKeyDictionary()
TOLERANCE = 1e-4


def supports_crop_probing(model: nn.Module, layer: str) -> bool:
    geometry = getattr(model, "geometry", None)
    return geometry is not None and hasattr(model, "run_tapped") and geometry().knows(layer)


def crop_box(model: nn.Module, layer: str, position: int, image_size: int) -> tuple[int, int, int]:
    """(first pixel, last pixel, the unit's position in the crop's output), per axis."""
    span = model.geometry().span(layer)
    lo, hi = model.geometry().input_span(layer, position)
    start = max(lo, 0) // span.jump * span.jump
    stop = min(hi, image_size - 1)
    return start, stop, position - start // span.jump


def crop_activations(model: nn.Module, images: Tensor, layer: str, channels: Sequence[int], position: int) -> Tensor:
    """(N, len(channels)) activations of `layer` at (position, position), from the crop alone."""
    size = images.shape[-1]
    start, stop, inner = crop_box(model, layer, position, size)
    if start == 0 and stop == size - 1 or not _agrees(model, images[:1], layer, position, start, stop, inner):
        return capture(model, images, [layer])[layer][:, list(channels), position, position]
    crop = images[..., start : stop + 1, start : stop + 1]
    return capture(model, crop, [layer])[layer][:, list(channels), inner, inner]


def _agrees(model: nn.Module, image: Tensor, layer: str, position: int, start: int, stop: int, inner: int) -> bool:
    """Once per (model, layer, image size): does the crop give the full forward's numbers?"""
    seen = _VERIFIED.setdefault(model, {})
    key = (layer, image.shape[-1])
    if key not in seen:
        with torch.no_grad():
            probe = torch.rand(image.shape, generator=torch.Generator().manual_seed(0)).to(image.device)
            full = capture(model, probe, [layer])[layer][:, :, position, position]
            part = capture(model, probe[..., start : stop + 1, start : stop + 1], [layer])[layer]
            scale = float(full.abs().max().clamp(min=1.0))
            ok = part.shape[-1] > inner and bool((part[:, :, inner, inner] - full).abs().max() <= TOLERANCE * scale)
        seen[key] = bool(ok)
    return seen[key]
