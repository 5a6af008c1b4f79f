"""An atlas's pictures: named by the hash of what they show (the model's weights, the unit, the
settings), written the moment they are drawn. An interrupted build keeps every picture it
finished, and a later build (more layers, more steps) draws only the ones it does not find."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..outputs import atomic_target, make_folders


class Assets:
    def __init__(self, root: Path, model_hash: str):
        self.root, self.model_hash = Path(root), model_hash
        self.drawn = 0
        make_folders(self.root / "assets")

    def href(self, kind: str, key: object) -> str:
        digest = hashlib.sha256(json.dumps([self.model_hash, kind, key], default=str).encode()).hexdigest()[:20]
        return f"assets/{kind}_{digest}.png"

    def has(self, href: str) -> bool:
        return (self.root / href).is_file()

    def write(self, href: str, pixels: np.ndarray) -> str:
        """Save (h, w, 3) uint8 pixels as a PNG at once (kept if the build stops later)."""
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
        self.write_bytes(href, buffer.getvalue())
        return href

    def write_bytes(self, href: str, data: bytes) -> str:
        with atomic_target(self.root / href, now=True) as tmp:
            tmp.write_bytes(data)
        self.drawn += 1
        return href


def to_pixels(image) -> np.ndarray:
    """A (3, h, w) float tensor in [0, 1] as (h, w, 3) uint8."""
    return (image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
