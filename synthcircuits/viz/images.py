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
