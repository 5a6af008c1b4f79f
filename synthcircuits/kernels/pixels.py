"""Parametric first-layer kernels (weights on RGB pixels), one function per kind.

Each returns an array (3, size, size) for a unit with orientation `theta` and phase `phase`
(degrees). The spatial pattern is scaled to unit L1 norm, then multiplied by `gain` and by
the per-channel `color` weights (default a third each, i.e. luminance).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .geometry import grid, to_unit_frame

GREY = (1 / 3, 1 / 3, 1 / 3)


def pixel_kernel(kind: str, params: dict[str, Any], theta: float, phase: float = 0.0) -> np.ndarray:
    """(3, k, k) weights of a kernel kind (a key of KERNEL_KINDS) at orientation `theta`."""
    return KERNEL_KINDS[kind](params, theta, phase)


def hue_rotation(degrees: float) -> np.ndarray:
    """(3, 3) rotation of RGB about the grey axis: 120 deg takes red to green, green to blue."""
    t = np.deg2rad(degrees)
    k = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.cos(t) * np.eye(3) + np.sin(t) * cross + (1 - np.cos(t)) * np.outer(k, k)


def hue_rotated(kernel: np.ndarray, degrees: float) -> np.ndarray:
    """A (3, k, k) kernel whose colour weights are turned `degrees` in hue (its shape unchanged)."""
    return np.einsum("ij,jhw->ihw", hue_rotation(degrees), kernel)


def _painted(pattern_of: Callable[[dict[str, Any], float, float], np.ndarray]) -> Callable[[dict[str, Any], float, float], np.ndarray]:
    """A grey-level pattern, normalised to unit L1 mass times `gain`, painted in `color`."""

    def kernel(params: dict[str, Any], theta: float, phase: float) -> np.ndarray:
        pattern = pattern_of(params, theta, phase)
        pattern = pattern / max(np.abs(pattern).sum(), 1e-12) * float(params.get("gain", 1.0))
        return np.asarray(params.get("color", GREY), dtype=np.float64)[:, None, None] * pattern

    return kernel


def _zero_mean(pattern: np.ndarray, envelope: np.ndarray) -> np.ndarray:
    """Remove the pattern's response to a uniform field, in the shape of its envelope."""
    return pattern - envelope * pattern.sum() / envelope.sum()


def _gabor(p: dict[str, Any], theta: float, phase: float) -> np.ndarray:
    u, v = to_unit_frame(*grid(p["size"]), theta)
    envelope = np.exp(-(u**2 + v**2) / (2 * p["sigma"] ** 2))
    carrier = np.cos(2 * np.pi * v / p["wavelength"] + np.deg2rad(phase + p.get("phase", 0.0)))
    return _zero_mean(envelope * carrier, envelope)


def _line(p: dict[str, Any], theta: float, phase: float) -> np.ndarray:
    u, v = to_unit_frame(*grid(p["size"]), theta)
    along = 1.0 / (1.0 + np.exp(4.0 * (np.abs(u) - p.get("length", p["size"]) / 2)))
    bar = np.exp(-(v**2) / (2 * p["width"] ** 2)) * along
    flanks = np.exp(-(v**2) / (2 * (3 * p["width"]) ** 2)) * along
    return bar - p.get("surround", 1.0) * flanks * bar.sum() / flanks.sum()


def _edge(p: dict[str, Any], theta: float, phase: float) -> np.ndarray:
    u, v = to_unit_frame(*grid(p["size"]), theta)
    envelope = np.exp(-(u**2 + v**2) / (2 * (p["size"] / 3) ** 2))
    return np.tanh(v / p.get("width", 1.0)) * envelope


def _arc(p: dict[str, Any], theta: float, phase: float) -> np.ndarray:
    u, v = to_unit_frame(*grid(p["size"]), theta)
    r = p["radius"]
    distance = np.hypot(u + r, v) - r
    ink = np.exp(-(distance**2) / (2 * p.get("width", 0.7) ** 2)) * (u + r >= 0)
    return _zero_mean(ink, np.ones_like(ink))


def _center_surround(p: dict[str, Any], theta: float, phase: float) -> np.ndarray:
    x, y = grid(p["size"])
    r2 = x**2 + y**2
    center = np.exp(-r2 / (2 * p["center_sigma"] ** 2)) / p["center_sigma"] ** 2
    surround = np.exp(-r2 / (2 * p["surround_sigma"] ** 2)) / p["surround_sigma"] ** 2
    return center - p.get("surround_weight", 1.0) * surround


def _color_opponent(p: dict[str, Any]) -> np.ndarray:
    x, y = grid(p["size"])
    r2 = x**2 + y**2
    center = np.exp(-r2 / (2 * p["center_sigma"] ** 2))
    surround = np.exp(-r2 / (2 * p["surround_sigma"] ** 2))
    center, surround = center / center.sum(), surround / surround.sum()
    c = np.asarray(p["center"], dtype=np.float64)[:, None, None]
    s = np.asarray(p["surround"], dtype=np.float64)[:, None, None]
    return float(p.get("gain", 1.0)) * (c * center + s * surround)


def _explicit(weights: np.ndarray, theta: float) -> np.ndarray:
    if weights.ndim == 2:
        weights = np.repeat(weights[None] / 3, 3, axis=0)
    return np.stack([rotate_sampled(channel, theta) for channel in weights])


def rotate_sampled(kernel: np.ndarray, theta: float) -> np.ndarray:
    """Rotate a written-out kernel by theta, sampling bilinearly (exact at multiples of 90 deg)."""
    size = kernel.shape[-1]
    x, y = grid(size)
    u, v = to_unit_frame(x, y, theta)  # where each output pixel comes from in the original
    c = (size - 1) / 2
    col, row = u + c, c - v
    col, row = np.round(col, 9), np.round(row, 9)
    c0, r0 = np.floor(col).astype(int), np.floor(row).astype(int)
    fc, fr = col - c0, row - r0
    out = np.zeros_like(kernel)
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            rr, cc = r0 + dr, c0 + dc
            inside = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
            out += np.where(inside, kernel[np.clip(rr, 0, size - 1), np.clip(cc, 0, size - 1)], 0.0) * wr * wc
    return out


# Every kernel kind a spec may name; tests/test_architectures.py holds it to the schema's PIXEL_KERNELS.
KERNEL_KINDS: dict[str, Callable[[dict[str, Any], float, float], np.ndarray]] = {
    "gabor": _painted(_gabor),
    "line": _painted(_line),
    "edge": _painted(_edge),
    "arc": _painted(_arc),
    "center_surround": _painted(_center_surround),
    "color_opponent": lambda params, theta, phase: _color_opponent(params),
    "explicit": lambda params, theta, phase: _explicit(np.asarray(params["weights"], dtype=np.float64), theta),
}
