"""Answers to composed pictures: at each unit's centre position, as whole feature maps (for
flip checks), or over the field (every position whose receptive field holds the picture's
centre), and the circle sweep that small-circle detectors are held to.

Flip checks compare a unit's map on a picture with its mirror partner's map on the flipped
picture, flipped back. That is exact only where every strided stage samples the image at
positions symmetric about its centre; `mirror_safe` says whether a size does (InceptionV1's
TF-style padding does at odd sizes whose every strided map is odd as well: 223, not 224).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor, nn

from ..models.capture import capture
from ..stimuli import render
from .tuning import ProbeUnit, responses_at_centre, stimulus_centre

FLIP_TOLERANCE = 1e-4  # relative: the largest difference over a map, against the map's largest answer


def picture_maps(model: nn.Module, units: Sequence[ProbeUnit], pictures: Tensor, pre_relu: bool = False) -> list[np.ndarray]:
    """Per unit, its whole feature map on every picture: (pictures, H, W); with `pre_relu`, the map
    before its ReLU (its layer's output where the model names no pre-activation)."""
    layers = list(dict.fromkeys(u.layer for u in units))
    with torch.no_grad():
        acts = capture(model, pictures, layers, pre_relu=pre_relu)
    name = (lambda layer: f"{layer}_pre_relu" if f"{layer}_pre_relu" in acts else layer) if pre_relu else (lambda layer: layer)
    return [acts[name(u.layer)][:, u.channel].double().cpu().numpy() for u in units]


def field_answers(model, units, pictures: Mapping[str, Tensor], at: str) -> dict[str, list[np.ndarray]]:
    """Per picture, per unit, its answers: one value at the centre, or every position of its field."""
    names = list(pictures)
    stack = _stack([pictures[n] for n in names])
    if at == "centre":
        centre = responses_at_centre(model, units, stack)  # pictures x units
        return {n: [centre[k, j:j + 1] for j in range(len(units))] for k, n in enumerate(names)}
    maps = picture_maps(model, units, stack)  # per unit: pictures x H x W
    size = stack.shape[-1]
    found: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for unit, m in zip(units, maps):
        rows, cols = _field_positions(model.geometry(), unit.layer, size)
        for k, n in enumerate(names):
            found[n].append(m[k][np.ix_(rows, cols)].ravel())
    return found


def _stack(images: Sequence[Tensor]) -> Tensor:
    return torch.stack(list(images))


def _field_positions(geometry, layer: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions (along one axis; the field is square) whose receptive field holds the picture's centre."""
    n = geometry.output_size(layer, size)
    lo, hi = geometry.input_span(layer, 0)
    half = (hi - lo + 1) / 2
    keep = np.array([p for p in range(n) if abs(geometry.receptive_field_center(layer, p) - size / 2) <= half])
    if keep.size == 0:
        keep = np.array([geometry.centre_position(layer, size)])
    return keep, keep


def flip_mismatch(original: np.ndarray, partner_on_flipped: np.ndarray) -> float:
    """How far a partner's maps on flipped pictures, flipped back, are from the original maps:
    the largest difference over the largest answer of either (0 for a perfect mirror)."""
    back = partner_on_flipped[..., ::-1]
    scale = max(float(np.abs(original).max()), float(np.abs(back).max()), 1e-12)
    return float(np.abs(original - back).max()) / scale


def mirror_safe(model: nn.Module, layer: str, size: int) -> bool:
    """Whether `layer`'s positions at `size` px sit symmetrically about the image centre, as a
    left-right flip needs: the first receptive field as far from the left edge as the last from the right."""
    geometry = model.geometry()
    n = geometry.output_size(layer, size)
    return n >= 1 and abs(geometry.receptive_field_center(layer, 0) + geometry.receptive_field_center(layer, n - 1) - size) < 1e-9


@dataclass(frozen=True)
class CircleSweep:
    """Dark circles of radius 0.4x to 2.5x the designed one, and arcs with the designed circle's length."""

    radius: float = 32.0
    width: float = 3.0
    size: int = 223
    steps: int = 24

    def radii(self) -> np.ndarray:
        return self.radius * np.linspace(0.4, 2.5, self.steps)

    def circles(self, centre: tuple[float, float]) -> Tensor:
        return render.rings(torch.tensor(self.radii(), dtype=torch.float32), width=self.width, size=self.size, center=centre)

    def same_length_arcs(self, centre: tuple[float, float]) -> Tensor:
        """Half circles of twice the radius (the circle's length of ink), at 8 orientations, with
        their midpoint on the unit's centre and on the designed circle."""
        batches = []
        for angle in range(0, 360, 45):
            t = np.deg2rad(angle)
            for shift in (0.0, self.radius):
                at = (centre[0] + shift * np.cos(t), centre[1] - shift * np.sin(t))
                batches.append(render.arcs(float(angle), 2 * self.radius, width=self.width, span=180.0, size=self.size, center=at))
        return torch.cat(batches)


    def half_circles(self, centre: tuple[float, float]) -> Tensor:
        """Half circles of the designed radius at 8 orientations: the halves of the designed circle
        around the unit's centre, and the same arcs with their midpoint on the centre."""
        batches = []
        for angle in range(0, 360, 45):
            t = np.deg2rad(angle)
            for shift in (0.0, self.radius):
                at = (centre[0] + shift * np.cos(t), centre[1] - shift * np.sin(t))
                batches.append(render.arcs(float(angle), self.radius, width=self.width, span=180.0, size=self.size, center=at))
        return torch.cat(batches)


@dataclass(frozen=True)
class CircleTuning:
    radii: np.ndarray
    responses: np.ndarray  # per radius
    arc_peak: float  # the strongest same-length arc
    field_circle: float = float("nan")  # the designed circle's strongest answer anywhere in the field
    field_half: float = float("nan")  # the strongest half circle of the same radius, anywhere in the field

    def circle_half_circle_ratio(self) -> float:
        return self.field_circle / self.field_half if self.field_half > 0 else (np.inf if self.field_circle > 0 else 0.0)

    def preferred_radius(self) -> float:
        return float(self.radii[int(self.responses.argmax())])

    def circle_arc_ratio(self, designed: float) -> float:
        at_design = float(np.interp(designed, self.radii, self.responses))
        return at_design / self.arc_peak if self.arc_peak > 0 else (np.inf if at_design > 0 else 0.0)


def circle_tuning(model: nn.Module, units: Sequence[ProbeUnit], sweep: CircleSweep, field: bool = False) -> list[CircleTuning]:
    """Each unit's answers to circles by radius and to arcs; with `field`, also the designed circle
    against half circles of its radius, each at its strongest position in the field."""
    results = []
    for unit in units:
        centre = stimulus_centre(unit.layer, sweep.size, model.geometry())
        circles = responses_at_centre(model, [unit], sweep.circles(centre))[:, 0]
        arcs = responses_at_centre(model, [unit], sweep.same_length_arcs(centre))[:, 0]
        tuning = CircleTuning(sweep.radii(), circles, float(arcs.max()))
        if field:
            ring = render.rings(torch.tensor([sweep.radius]), width=sweep.width, size=sweep.size, center=centre)[0]
            halves = sweep.half_circles(centre)
            answers = field_answers(model, [unit], {"ring": ring, **{f"half {k}": h for k, h in enumerate(halves)}}, "max")
            tuning = replace(tuning, field_circle=float(answers.pop("ring")[0].max()),
                             field_half=max(float(a[0].max()) for a in answers.values()))
        results.append(tuning)
    return results
