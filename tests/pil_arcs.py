"""A second arc renderer for the tests, written apart from `synthcircuits.stimuli`: PIL's own arc
drawing, supersampled 4x and averaged down. Claims about curve units hold only if they hold on
arcs drawn by code that shares nothing with the stimuli the project's checks use."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

SUPERSAMPLE = 4


def pil_arc(orientation: float, radius: float, width: float, size: int = 223, centre: tuple[float, float] | None = None,
            span: float = 120.0) -> torch.Tensor:
    """A dark arc on white, (3, size, size) in [0, 1]: its midpoint at `centre` (px, image
    coordinates, y down), its convex side facing `orientation` (degrees counterclockwise, 0 right)."""
    s = SUPERSAMPLE
    cx, cy = centre if centre is not None else (size / 2, size / 2)
    t = math.radians(orientation)
    # The circle's centre lies behind the midpoint, away from the convex side.
    ox, oy = cx - radius * math.cos(t), cy + radius * math.sin(t)
    image = Image.new("L", (size * s, size * s), 255)
    box = [(ox - radius) * s, (oy - radius) * s, (ox + radius) * s, (oy + radius) * s]
    middle = -orientation  # PIL measures angles clockwise from 3 o'clock
    # PIL's width grows the stroke inwards from the box: widen the box by half the stroke.
    half = width * s / 2
    box = [box[0] - half, box[1] - half, box[2] + half, box[3] + half]
    ImageDraw.Draw(image).arc(box, middle - span / 2, middle + span / 2, fill=0, width=max(1, round(width * s)))
    small = np.asarray(image.resize((size, size), Image.Resampling.BOX), dtype=np.float32) / 255.0
    return torch.from_numpy(small).expand(3, size, size).clone()


def preferred_orientation(answers: np.ndarray, angles: np.ndarray) -> float:
    """Circular mean of the angles, weighted by how far each answer rises above half the peak
    (computed here, not with the project's tuning code)."""
    weights = np.clip(answers - answers.max() / 2, 0, None)
    if weights.sum() <= 0:
        return float("nan")
    mean = np.angle((weights * np.exp(1j * np.deg2rad(angles))).sum())
    return float(np.rad2deg(mean) % 360.0)
