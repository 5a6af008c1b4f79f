"""Writing pictures: images side by side as one PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..outputs import atomic_target


def save_images(images: list[torch.Tensor], path: Path) -> Path:
    """Images (3, H, W) in [0, 1], side by side, as one PNG (written atomically)."""
    strip = torch.cat([i.clamp(0, 1) for i in images], dim=2)
    with atomic_target(path) as tmp:
        Image.fromarray((strip.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp, format="PNG")
    return path


def save_grid(rows: list[list[torch.Tensor]], path: Path, gap: int = 2) -> Path:
    """Rows of images (3, H, W) in [0, 1] as one PNG on white, each image at its own size
    (receptive-field canvases differ by layer), written atomically."""
    height = sum(max(i.shape[1] for i in row) for row in rows) + gap * (len(rows) - 1)
    width = max(sum(i.shape[2] for i in row) + gap * (len(row) - 1) for row in rows)
    sheet = torch.ones(3, height, width)
    top = 0
    for row in rows:
        left = 0
        for image in row:
            sheet[:, top : top + image.shape[1], left : left + image.shape[2]] = image.clamp(0, 1)
            left += image.shape[2] + gap
        top += max(i.shape[1] for i in row) + gap
    return save_images([sheet], path)
