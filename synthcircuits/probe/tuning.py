"""Tuning curves: a unit's response over a stimulus sweep, and the numbers read off it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..layout.geometry import INCEPTIONV1_GEOMETRY, Geometry
from ..limits import FORWARD_BYTES_PER_PIXEL, memory_budget
from ..models.capture import capture
from ..stimuli import arcs, lines
from ..stimuli.remembered import drawn_once
from .crop_forward import crop_activations, supports_crop_probing
from .unit_forward import supports_unit_probing, unit_activations


@dataclass(frozen=True)
class ProbeUnit:
    """A unit as the built model holds it: layer and channel of that model's output."""

    name: str
    layer: str
    channel: int


@dataclass
class TuningCurve:
    unit: str
    angles: np.ndarray  # degrees, evenly spaced over `period`
    responses: np.ndarray
    period: float = 360.0

    @property
    def peak(self) -> float:
        return float(self.responses.max())

    @property
    def peak_angle(self) -> float:
        return float(self.angles[int(self.responses.argmax())])

    def preferred(self) -> float:
        """Circular mean of the angles, weighted by how far each response rises above half the peak."""
        weights = np.clip(self.responses - self.peak / 2, 0, None)
        if weights.sum() <= 0:
            return float("nan")
        phase = np.deg2rad(self.angles) * 360.0 / self.period
        mean = np.angle((weights * np.exp(1j * phase)).sum())
        return float(np.rad2deg(mean) * self.period / 360.0 % self.period)

    def response_at(self, angle: float) -> float:
        """Linear interpolation on the circle."""
        a = np.concatenate([self.angles, [self.angles[0] + self.period]])
        r = np.concatenate([self.responses, [self.responses[0]]])
        return float(np.interp(angle % self.period, a, r))

    def width(self) -> float:
        """Full width at half maximum of the lobe around the peak, in degrees."""
        if self.peak <= 0:
            return float("nan")
        n, step = len(self.angles), self.period / len(self.angles)
        i = int(self.responses.argmax())
        half = self.peak / 2
        extent = 0.0
        for direction in (1, -1):
            for k in range(1, n):
                r_prev, r = self.responses[(i + direction * (k - 1)) % n], self.responses[(i + direction * k) % n]
                if r < half:
                    extent += step * (k - 1) + step * (r_prev - half) / (r_prev - r)
                    break
            else:
                return float(self.period)
        return float(min(extent, self.period))

    def trough(self) -> float:
        """The weakest response over the sweep, as a fraction of the peak (0: silent somewhere)."""
        return float(self.responses.min()) / self.peak if self.peak > 0 else float("nan")

    def echo(self) -> float:
        """Response half a period from the preferred angle, as a fraction of the peak."""
        if self.peak <= 0:
            return float("nan")
        return self.response_at(self.preferred() + self.period / 2) / self.peak


def responses_at_centre(
    model: nn.Module,
    units: Sequence[ProbeUnit],
    stimuli: Callable[[Tensor], Tensor] | Tensor,
    parameters: Tensor | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """(stimuli, units) responses at each unit's centre position.

    `stimuli` is a batch, or a renderer called on slices of `parameters` (so a long sweep
    never sits in memory at once).
    """
    layers = list(dict.fromkeys(u.layer for u in units))
    count = len(stimuli) if isinstance(stimuli, Tensor) else len(parameters)
    out = np.zeros((count, len(units)), dtype=np.float64)
    device = next(model.parameters()).device
    unit_level = supports_unit_probing(model)
    geometry = model.geometry()
    side = (stimuli if isinstance(stimuli, Tensor) else stimuli(parameters[:1])).shape[-1] if count else 1
    batch_size = max(1, min(batch_size, memory_budget() // (side * side * FORWARD_BYTES_PER_PIXEL)))  # large stimuli: smaller batches
    starts = range(0, count, batch_size)
    for start in tqdm(starts, desc="stimuli", disable=not progress, leave=False):
        batch = stimuli[start : start + batch_size] if isinstance(stimuli, Tensor) else stimuli(parameters[start : start + batch_size])
        batch = batch.to(device)
        size = batch.shape[-1]
        with torch.no_grad():
            cropped = {layer: not unit_level and supports_crop_probing(model, layer) for layer in layers}
            full = [layer for layer in layers if not unit_level and not cropped[layer]]
            acts = capture(model, batch, full) if full else {}
            for layer in layers:
                columns = [k for k, u in enumerate(units) if u.layer == layer]
                channels = [units[k].channel for k in columns]
                p = geometry.centre_position(layer, size)
                if unit_level:  # only the receptive field, only the branches holding the units
                    values = unit_activations(model, batch, layer, channels, p)
                elif cropped[layer]:  # only the receptive field
                    values = crop_activations(model, batch, layer, channels, p)
                else:
                    values = acts[layer][:, channels, p, p]
                out[start : start + len(batch), columns] = values.double().cpu().numpy()
    return out


def stimulus_centre(layer: str, image_size: int, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> tuple[float, float]:
    """Where to centre a stimulus so it falls on the receptive field of `layer`'s centre unit."""
    c = geometry.receptive_field_center(layer, geometry.centre_position(layer, image_size))
    return (c, c)


@dataclass(frozen=True)
class RadialSweep:
    """Curves of one radius at evenly spaced orientations over 360 degrees."""

    radius: float = 32.0
    step: float = 5.0
    width: float = 3.0
    span: float = 120.0
    size: int = 224

    @property
    def angles(self) -> np.ndarray:
        return np.arange(0.0, 360.0, self.step)

    def render(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Callable[[Tensor], Tensor]:
        centre = stimulus_centre(layer, self.size, geometry)
        return drawn_once("arcs", self, centre, lambda o: arcs(o, self.radius, width=self.width, span=self.span, size=self.size, center=centre))

    def lines(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Callable[[Tensor], Tensor]:
        """Straight lines as long as the arcs, at the arcs' tangent (orientation + 90)."""
        centre = stimulus_centre(layer, self.size, geometry)
        length = 2 * self.radius * np.deg2rad(self.span / 2)
        return drawn_once("tangents", self, centre, lambda o: lines(o + 90.0, length=float(length), width=self.width, size=self.size,
                                                                   center=centre))


def radial_tuning(model: nn.Module, units: Sequence[ProbeUnit], sweep: RadialSweep = RadialSweep(), progress: bool = False) -> list[TuningCurve]:
    """Each unit's response to curves swept over 360 degrees, centred on its receptive field."""
    by_layer: dict[str, list[ProbeUnit]] = {}
    for u in units:
        by_layer.setdefault(u.layer, []).append(u)
    angles = sweep.angles
    curves: dict[str, TuningCurve] = {}
    for layer, group in by_layer.items():
        r = responses_at_centre(model, group, sweep.render(layer, model.geometry()), torch.tensor(angles, dtype=torch.float32), progress=progress)
        for k, u in enumerate(group):
            curves[u.name] = TuningCurve(u.name, angles, r[:, k], getattr(sweep, "period", 360.0))
    return [curves[u.name] for u in units]


def curve_line_selectivity(model: nn.Module, units: Sequence[ProbeUnit], orientations: Sequence[float], sweep: RadialSweep = RadialSweep()) -> np.ndarray:
    """Each unit's response to its curve over its response to a straight line at the curve's tangent
    (every unit's pair drawn into one batch per layer: one forward, not two per unit)."""
    ratios = np.zeros(len(units))
    geometry = model.geometry()
    by_layer: dict[str, list[int]] = {}
    for k, u in enumerate(units):
        by_layer.setdefault(u.layer, []).append(k)
    for layer, members in by_layer.items():
        angles = torch.tensor([float(orientations[k]) for k in members], dtype=torch.float32)
        batch = torch.cat([sweep.render(layer, geometry)(angles), sweep.lines(layer, geometry)(angles)])
        answers = responses_at_centre(model, [units[k] for k in members], batch)  # (curves then lines) x units
        n = len(members)
        for j, k in enumerate(members):
            curve, line = answers[j, j], answers[n + j, j]
            ratios[k] = curve / line if line > 0 else (np.inf if curve > 0 else 0.0)
    return ratios


def angle_difference(a: float, b: float, period: float = 360.0) -> float:
    """Smallest absolute difference of two angles on a circle of `period`."""
    d = (a - b) % period
    return float(min(d, period - d))
