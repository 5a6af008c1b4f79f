"""Connection rules: the weights from every unit of one family to every unit of another.

A rule is written once, for a target unit at orientation 0, as
    weight(u, v, source orientation) = gain * spatial(u, v) * tuning(source - expected(u, v))
where (u, v) is the kernel position in the target unit's frame, `spatial` is the rule's
pattern (summing to 1), and `expected` the orientation a source unit should have there
to continue the target's shape. Evaluating it in each target unit's frame gives all
rotated copies: the family is equivariant by construction.

Orientation conventions: undirected families (period 180) are named by their tangent
(a 0 deg line is horizontal); directed families (period 360) by the side their convex
side faces (a 90 deg curve is a cap, convex side up), so their tangent is theta + 90.
"""

from __future__ import annotations

import numpy as np

from ..language.model import Family, InputRule, Tuning
from .geometry import grid, to_unit_frame, wrap

DEFAULT_WIDTH = 0.5  # grid cells; how far off the line or arc a position still counts
OFFSET_WIDTH = 0.3  # grid cells; an offset on the grid lands on one position, between positions it spreads to the nearest


def rule_weights(rule: InputRule, target: Family, source: Family, size: int) -> np.ndarray:
    """Weights of shape (target units, source units, size, size) that `rule` asks for.

    A hue family's copies turn in colour, not in space: its frame stays put, and a source's hue
    is compared with the target's hue (plus `turn`) where both are hue families, with `turn`
    alone where only the source is."""
    x, y = grid(size)
    target_theta = np.array([target.orientation_of(j) for j in range(target.size)])
    source_theta = np.array([source.orientation_of(i) for i in range(source.size)])
    frame = target_theta if target.axis == "orientation" else np.zeros_like(target_theta)
    u, v = to_unit_frame(x[None], y[None], frame[:, None, None])  # (T, k, k)
    spatial, tangent, normal = _pattern(rule, target, u, v)
    if source.axis == "orientation":  # what the pattern expects there, in the target's frame
        reference, expected = frame, (normal if source.period == 360 else tangent) + rule.turn  # (T, k, k)
    else:
        reference = target_theta if target.axis == "hue" else np.zeros_like(target_theta)
        expected = np.full_like(u, rule.turn)
    difference = source_theta[None, :, None, None] - reference[:, None, None, None] - expected[:, None]
    if len(source.orientations) == 1:  # one orientation: nothing to turn, every copy reads it alike
        difference = np.zeros_like(difference)
    return rule.gain * spatial[:, None] * tuning_curve(rule.tuning, wrap(difference, source.period), source.period)


def _pattern(rule: InputRule, target: Family, u: np.ndarray, v: np.ndarray):
    """Spatial pattern (summing to 1 per target unit), local tangent and normal, in the target's frame."""
    directed = target.period == 360
    p = rule.spatial_params
    width = p.get("width", DEFAULT_WIDTH)
    if rule.spatial == "center":
        spatial = ((np.abs(u) < 1e-9) & (np.abs(v) < 1e-9)).astype(np.float64)
        tangent = np.full_like(u, 90.0 if directed else 0.0)
    elif rule.spatial == "along_line":
        along, across = (v, u) if directed else (u, v)  # the line runs along the target's tangent
        length = p.get("length", np.inf)
        spatial = bump(across, width) * (np.abs(along) <= length + 1e-9)
        tangent = np.full_like(u, 90.0 if directed else 0.0)
    elif rule.spatial == "along_arc":
        radius = p["radius"]
        distance = np.hypot(u + radius, v) - radius
        spatial = bump(distance, width) * (u + radius >= 0)
        tangent = np.rad2deg(np.arctan2(v, u + radius)) + 90.0
    elif rule.spatial == "ring":
        radius = p["radius"]
        spatial = bump(np.hypot(u, v) - radius, width)
        tangent = np.rad2deg(np.arctan2(v, u)) + 90.0  # a directed source faces outward: its normal points away from the centre
    elif rule.spatial == "offset":
        spatial = bump(np.hypot(u - p["x"], v - p["y"]), p.get("width", OFFSET_WIDTH))
        tangent = np.full_like(u, 90.0 if directed else 0.0)
    elif rule.spatial == "region":
        spatial = region_mask(str(p["side"]), u, v, p.get("beyond", 0.5), p.get("radius", 1.0))
        tangent = np.full_like(u, 90.0 if directed else 0.0)
    else:  # the schema admits no other
        raise ValueError(rule.spatial)
    spatial = spatial / np.maximum(spatial.sum(axis=(-2, -1), keepdims=True), 1e-12)
    return spatial, tangent, tangent - 90.0


def region_mask(side: str, u: np.ndarray, v: np.ndarray, beyond: float, radius: float) -> np.ndarray:
    """1 where a position lies in the named region of the target's frame (top: +v, right: +u), else 0."""
    eps = 1e-9
    inside = {
        "top": v >= beyond - eps, "bottom": v <= -beyond + eps, "right": u >= beyond - eps, "left": u <= -beyond + eps,
        "centre": np.hypot(u, v) <= radius + eps, "surround": np.hypot(u, v) > radius + eps,
    }[side]
    return inside.astype(np.float64)


def tuning_curve(tuning: Tuning, difference: np.ndarray, period: float) -> np.ndarray:
    """Weight by orientation difference (already wrapped to +-period/2)."""
    d = np.abs(difference)
    if tuning.every:
        return np.full_like(d, tuning.excite)
    if tuning.table:
        angles, weights = zip(*tuning.table)
        return np.interp(d, angles, weights)
    return tuning.excite * bump(d, tuning.width_deg) - tuning.inhibit * bump(d - period / 2, tuning.width_deg)


def bump(distance: np.ndarray, width: float) -> np.ndarray:
    """A Gaussian bump cut to zero beyond 3 widths, so far-off pairs are not connected at all."""
    return np.where(np.abs(distance) <= 3 * width, np.exp(-(distance**2) / (2 * width**2)), 0.0)
