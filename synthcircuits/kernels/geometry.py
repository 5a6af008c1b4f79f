"""Coordinates shared by every kernel.

Angles are degrees, counter-clockwise as seen on screen, 0 pointing right. A kernel of odd
size k has its centre at the middle pixel; x grows to the right and y grows *upwards*.
A unit with orientation theta is described in its own frame (u, v): the position rotated
by -theta, so that rules are written once for orientation 0 and hold for every copy.
"""

from __future__ import annotations

import numpy as np


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of each pixel of a size x size kernel, centre at 0, y up; shape (size, size)."""
    c = (size - 1) / 2
    rows, cols = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    return cols - c, c - rows


def to_unit_frame(x: np.ndarray, y: np.ndarray, theta_deg: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate positions by -theta: the unit's orientation becomes the +u axis."""
    t = np.deg2rad(theta_deg)
    c, s = np.cos(t), np.sin(t)
    return x * c + y * s, -x * s + y * c


def wrap(angle_deg: np.ndarray, period: float) -> np.ndarray:
    """Wrap to (-period/2, period/2]."""
    return period / 2 - np.mod(period / 2 - angle_deg, period)


def embed_centered(kernel: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad the last two (odd) dimensions of `kernel` to size x size, keeping it centred."""
    k = kernel.shape[-1]
    if k == size:
        return kernel
    pad = (size - k) // 2
    out = np.zeros(kernel.shape[:-2] + (size, size), dtype=kernel.dtype)
    out[..., pad : pad + k, pad : pad + k] = kernel
    return out
