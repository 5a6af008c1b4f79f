"""Attribution heatmaps over the image: red where a layer's units pushed the target up, blue where
they pushed it down, laid over a faded copy of the image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from .images import save_grid

RED = torch.tensor([0.85, 0.1, 0.1]).view(3, 1, 1)
BLUE = torch.tensor([0.1, 0.25, 0.9]).view(3, 1, 1)


def overlay(image: Tensor, values: Tensor, scale: float | None = None) -> Tensor:
    """`image` (3, H, W) in [0, 1] faded to grey, tinted by `values` (h, w) resized to the image:
    full colour at `scale` (default: the map's largest magnitude)."""
    grey = image.mean(0, keepdim=True).expand_as(image) * 0.5 + 0.5
    big = F.interpolate(values[None, None].float(), size=image.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    top = scale if scale is not None else float(big.abs().max())
    strength = (big / top).clamp(-1, 1) if top > 0 else torch.zeros_like(big)
    colour = torch.where(strength >= 0, RED, BLUE)
    alpha = strength.abs()[None] * 0.85
    return grey * (1 - alpha) + colour * alpha


def save_heatmaps(image: Tensor, total: Tensor, channels: Sequence[Tensor], path: Path) -> Path:
    """One PNG: the image, the map summed over channels, then one map per given channel (each at
    its own scale)."""
    row = [image.clamp(0, 1), overlay(image, total)] + [overlay(image, c) for c in channels]
    return save_grid([row], path)
