"""The contact sheet of a layer's mirror pairs: per pair, the input that drives the first unit
most beside its flip (which should drive the partner), and the same for the partner."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from torch import Tensor

from ..outputs import atomic_target
from .partners import MirrorUnit

CELL = 96
LABEL = 260


def _cell(image: Tensor) -> Image.Image:
    array = (image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(array).resize((CELL - 4, CELL - 4), Image.BILINEAR)


def pairs_sheet(pairs: Sequence[tuple[MirrorUnit, MirrorUnit]], strongest: Callable[[str], tuple[Tensor, str]], path: Path) -> Path | None:
    """`strongest(unit)` gives the input that drives `unit` most and a caption. None if no pairs."""
    if not pairs:
        return None
    sheet = Image.new("RGB", (LABEL + 4 * CELL, CELL * len(pairs) + 24), "white")
    draw = ImageDraw.Draw(sheet)
    for k, title in enumerate(("A's strongest", "flipped (for B)", "B's strongest", "flipped (for A)")):
        draw.text((LABEL + k * CELL + 2, 6), title, fill="black")
    for row, (a, b) in enumerate(pairs):
        top = 24 + row * CELL
        draw.text((6, top + 8), f"A {a.unit}", fill="black")
        draw.text((6, top + 26), f"B {b.unit}", fill="black")
        draw.text((6, top + 44), f"r = {a.correlation:.3f} (self {a.self_correlation:.2f})", fill="black")
        for k, unit in enumerate((a, b)):
            image, caption = strongest(unit.unit)
            sheet.paste(_cell(image), (LABEL + 2 * k * CELL + 2, top + 2))
            sheet.paste(_cell(image.flip(-1)), (LABEL + (2 * k + 1) * CELL + 2, top + 2))
            draw.text((6, top + 62 + 14 * k), f"{'AB'[k]}: {caption}"[:40], fill="#555")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
