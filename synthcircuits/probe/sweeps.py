"""Sweeps over 360 degrees besides the arcs of `RadialSweep`, each centred on the unit's receptive
field and measured the same way (a `TuningCurve` per unit):

- `BoundarySweep`: a high-low frequency boundary, fine texture on the side the orientation's
  normal points to (+90 deg) and flat grey (or a coarse texture) on the other, turned in steps;
- `LineSweep`: straight lines through the centre, turned over 180 degrees (line families);
- `HueSweep`: two saturated hues either side of a vertical boundary, the hue on the left swept
  round the colour circle and its opposite (+180) on the right; `kind: field` sweeps one hue
  over the whole field instead.

Each also draws the uniform fields a boundary or contrast unit must not answer (`uniform`): either
texture, or one hue, over the whole field.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..layout.geometry import INCEPTIONV1_GEOMETRY, Geometry
from ..stimuli import CUES, color_contrast, cue_boundaries, fields, gratings, half_gratings, lines
from ..stimuli.remembered import drawn_once
from .tuning import stimulus_centre


def hue_rgb(hue_deg: float) -> tuple[float, float, float]:
    """The saturated colour at a hue angle: 0 red, 120 green, 240 blue."""
    return colorsys.hsv_to_rgb((hue_deg % 360.0) / 360.0, 1.0, 1.0)


@dataclass(frozen=True)
class TurningSweep:
    """A sweep over the full circle in `step` degrees, drawn on `size` px pictures."""

    step: float = 10.0
    size: int = 224

    @property
    def angles(self) -> np.ndarray:
        return np.arange(0.0, 360.0, self.step)


@dataclass(frozen=True)
class BoundarySweep(TurningSweep):
    wavelength: float = 3.0  # px, the fine side
    other_wavelength: float = math.inf  # px, the other side (inf: flat mid-grey)

    def render(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Callable[[Tensor], Tensor]:
        centre = stimulus_centre(layer, self.size, geometry)
        return drawn_once("half gratings", self, centre, lambda o: half_gratings(
            o, wavelength=self.wavelength, other_wavelength=self.other_wavelength, size=self.size, center=centre))

    def uniform(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Tensor:
        """Either texture over the whole field, the fine one at four orientations."""
        centre = stimulus_centre(layer, self.size, geometry)
        fine = gratings(torch.tensor([0.0, 45.0, 90.0, 135.0]), wavelength=self.wavelength, size=self.size, center=centre)
        if math.isinf(self.other_wavelength):
            other = fields([(0.5, 0.5, 0.5)]).expand(1, 3, self.size, self.size)
        else:
            other = gratings(torch.tensor([0.0, 45.0, 90.0, 135.0]), wavelength=self.other_wavelength, size=self.size, center=centre)
        return torch.cat([fine, other])


@dataclass(frozen=True)
class HueSweep(TurningSweep):
    kind: str = "contrast"  # "contrast": hue h left of a vertical boundary, h + 180 right; "field": hue h everywhere

    def render(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Callable[[Tensor], Tensor]:
        centre = stimulus_centre(layer, self.size, geometry)

        def draw(hues: Tensor) -> Tensor:
            first = [hue_rgb(float(h)) for h in hues]
            if self.kind == "field":
                return fields(first).expand(-1, 3, self.size, self.size)
            second = [hue_rgb(float(h) + 180.0) for h in hues]
            # orientation 90: the boundary is vertical and its normal points left, where the first colour goes
            return torch.cat([color_contrast(90.0, (a, b), size=self.size, center=centre) for a, b in zip(first, second)])
        return drawn_once("hues", self, centre, draw)

    def uniform(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Tensor:
        """Each of twelve hues over the whole field: one colour, no contrast."""
        return fields([hue_rgb(h) for h in range(0, 360, 30)]).expand(-1, 3, self.size, self.size)


@dataclass(frozen=True)
class CueSweep(TurningSweep):
    """Figure/ground boundaries (`stimuli.cue_boundaries`) turned over 360 degrees."""

    cues: tuple[str, ...] = CUES
    shape: str = "straight"
    radius: float = 40.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cues", tuple(self.cues))

    def render(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Callable[[Tensor], Tensor]:
        centre = stimulus_centre(layer, self.size, geometry)
        return drawn_once("cues", self, centre, lambda o: cue_boundaries(
            o, self.cues, shape=self.shape, radius=self.radius, size=self.size, center=centre))


@dataclass(frozen=True)
class LineSweep(TurningSweep):
    """Dark straight lines through the unit's centre, turned over 180 degrees (a line is its own
    turn by 180): for line families, whose orientation is the line's."""

    step: float = 5.0
    length: float = 40.0
    width: float = 3.0
    period: float = 180.0

    @property
    def angles(self) -> np.ndarray:
        return np.arange(0.0, self.period, self.step)

    def render(self, layer: str, geometry: Geometry = INCEPTIONV1_GEOMETRY) -> Callable[[Tensor], Tensor]:
        centre = stimulus_centre(layer, self.size, geometry)
        return drawn_once("lines", self, centre, lambda o: lines(o, length=self.length, width=self.width, size=self.size, center=centre))


SWEEPS = {"boundary_tuning": BoundarySweep, "hue_tuning": HueSweep, "cue_tuning": CueSweep, "line_tuning": LineSweep}
