"""Each unit's answers to an input and to its left-right flip, at positions that map onto each
other: the rows mirror partners are found from.

Inputs are drawn or resized to a side at which every layer asked about samples the image at
positions symmetric about its centre (`mirror_safe_side`: 223 for InceptionV1, 221 for BVLC
GoogLeNet), so position w on the original and position W-1-w on the flip see mirror images of
the same pixels, and a unit and its exact mirror image give equal numbers there.

- Stimuli (the census battery, drawn on the image centre for each layer's receptive field): the
  answer at the centre position, computed only over the receptive field.
- Images (`MirrorJob`, a dataset-runner job): the answers at a 5 x 5 grid of positions around
  the centre, each paired with its mirrored position on the flip: 25 samples per image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

import torch.nn.functional as F

from ..census.battery import BATTERY, SIZE, Scale, render
from ..layout.geometry import Geometry
from ..models.capture import capture
from ..probe.tuning import ProbeUnit, responses_at_centre

GRID = 5  # positions per side sampled on images


def mirror_safe_side(geometry: Geometry, layers: Sequence[str], near: int = 224, reach: int = 40) -> tuple[int, bool]:
    """The side closest to `near` at which every layer's positions sit symmetrically about the image
    centre, and whether one was found (else `near`, where flips match only approximately)."""
    def safe(side: int) -> bool:
        for layer in layers:
            n = geometry.output_size(layer, side)
            if n < 1 or abs(geometry.receptive_field_center(layer, 0) + geometry.receptive_field_center(layer, n - 1) - side) > 1e-9:
                return False
        return True

    for offset in range(reach + 1):
        for side in (near - offset, near + offset):
            if side >= 32 and safe(side):
                return side, True
    return near, False


def sample_positions(size: int, count: int = GRID) -> list[int]:
    """About `count` positions of a map `size` wide, symmetric about its centre (every one on small maps)."""
    if size <= count:
        return list(range(size))
    step = max(1, size // (2 * count))
    left = [(size - 1) // 2 - k * step for k in range(count // 2 + 1)]
    return sorted({p for q in left for p in (q, size - 1 - q)})


class MirrorJob:
    """Per image and layer: every unit's answers at a grid of positions on the image
    (`<layer>.original`, (positions, units)) and at the mirrored positions on its flip (`<layer>.flipped`)."""

    def __init__(self, model: nn.Module, layers: Sequence[str]):
        self.model, self.layers = model.eval(), list(layers)

    def to(self, device: str) -> MirrorJob:
        return MirrorJob(self.model.to(device), self.layers)

    def describe(self) -> dict:
        from ..models.weights import content_hash

        return {"kind": "mirror-answers", "model_sha256": content_hash(self.model.state_dict()), "layers": self.layers, "grid": GRID}

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        device = next(self.model.parameters()).device
        images = images.to(device)
        with torch.no_grad():
            original = capture(self.model, images, self.layers)
            flipped = capture(self.model, images.flip(-1), self.layers)
        out = {}
        for layer in self.layers:
            a, b = original[layer], flipped[layer]
            if a.dim() != 4:  # a vector layer: one position, its own mirror
                out[f"{layer}.original"], out[f"{layer}.flipped"] = a[:, None].float().cpu().numpy(), b[:, None].float().cpu().numpy()
                continue
            rows, cols = sample_positions(a.shape[-2]), sample_positions(a.shape[-1])
            mirrored = [a.shape[-1] - 1 - c for c in cols]
            out[f"{layer}.original"] = _at(a, rows, cols)
            out[f"{layer}.flipped"] = _at(b, rows, mirrored)
        return out


def _at(acts: Tensor, rows: list[int], cols: list[int]) -> np.ndarray:
    """(N, positions, channels) answers at every (row, col) pair."""
    picked = acts[:, :, rows][:, :, :, cols]  # (N, C, R, K)
    return picked.flatten(2).transpose(1, 2).float().cpu().numpy()


def battery_batches(geometry: Geometry, layer: str, side: int, batch_size: int = 64) -> Iterator[tuple[str, range, Tensor]]:
    """The census battery drawn for `layer`'s receptive field on the image centre: (kind, its rows, batch)."""
    scale = Scale(int(geometry.span(layer).size))
    for kind in BATTERY:
        grid = kind.grid(scale)
        count = len(next(iter(grid.values())))
        for start in range(0, count, batch_size):
            rows = range(start, min(start + batch_size, count))
            yield kind.name, rows, battery_picture(kind, grid, rows, scale, side)


def battery_picture(kind, grid, rows, scale: Scale, side: int) -> Tensor:
    """Battery stimuli centred on a `side` px picture (the battery draws on SIZE px: cut, or
    extended by its edge pixels)."""
    drawn = render(kind, grid, rows, scale, (side / 2, side / 2)).expand(-1, 3, SIZE, SIZE)
    if side <= SIZE:
        return drawn[..., :side, :side]
    return F.pad(drawn, (0, side - SIZE, 0, side - SIZE), mode="replicate")


def battery_size(geometry: Geometry, layer: str) -> int:
    return sum(len(next(iter(k.grid(Scale(int(geometry.span(layer).size))).values()))) for k in BATTERY)


def centre_answers(model: nn.Module, units: Sequence[ProbeUnit], batch: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, units) answers at the centre position to a batch and to its flip."""
    return responses_at_centre(model, units, batch), responses_at_centre(model, units, batch.flip(-1))
