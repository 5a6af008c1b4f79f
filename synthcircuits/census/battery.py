"""The census's stimulus battery: every kind of synthetic stimulus the family table reads, drawn
to the scale of one layer's receptive field and run through the layer once, all units together.

A kind is a row: a name, what it shows, its parameter grid at a scale, and a renderer from a
slice of that grid to images. `measure_battery` renders each kind in slices (so the battery
never sits in memory at once) and returns every unit's answer to every stimulus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from ..layout.geometry import Geometry
from ..probe.classify import HUES  # find's colour fields: the same six hues
from ..probe.tuning import ProbeUnit, responses_at_centre, stimulus_centre
from ..stimuli import arcs, center_surround, color_contrast, edges, fields, gratings, half_gratings, hatches, lines, ramps, rays, rings

SIZE = 224  # every stimulus is drawn on a canvas this big, centred on the layer's centre unit
INKS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), **HUES}
GREY = (0.5, 0.5, 0.5)
WAVELENGTHS = (3.0, 6.0, 12.0, 24.0)  # px: high to low spatial frequency
PHASES = (0.0, 90.0, 180.0, 270.0)
POLARITIES = (1.0, -1.0)  # dark on white, white on black


def luminance(rgb: Sequence[float]) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


@dataclass(frozen=True)
class Scale:
    """Stimulus sizes for units whose receptive field is `field_px` wide."""

    field_px: int

    @property
    def radius(self) -> float:  # arcs: 32 px at mixed3b (91 px), as `find` and `verify` draw them
        return float(np.clip(self.field_px / 3, 4.0, 32.0))

    @property
    def width(self) -> float:
        return float(np.clip(self.field_px / 30, 1.5, 3.0))

    @property
    def length(self) -> float:  # a line as long as the arcs (120-degree span)
        return 2 * self.radius * np.deg2rad(60.0)

    @property
    def shift(self) -> float:  # shifted lines sit this far off the centre
        return max(2.0, self.field_px / 4)


Grid = dict[str, np.ndarray]


@dataclass(frozen=True)
class StimulusKind:
    name: str
    shows: str
    grid: Callable[[Scale], Grid]  # one row per stimulus
    draw: Callable[[dict[str, Tensor], Scale, tuple[float, float]], Tensor]


def _product(**axes: Sequence) -> Grid:
    mesh = np.meshgrid(*[np.asarray(v, dtype=np.float64) for v in axes.values()], indexing="ij")
    return {k: m.reshape(-1) for k, m in zip(axes, mesh)}


def _pairs(names: Sequence[str], exclude_same: bool = True) -> Grid:
    i, j = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    keep = (i != j) if exclude_same else np.ones_like(i, dtype=bool)
    return {"first": i[keep].astype(np.float64), "second": j[keep].astype(np.float64)}


def _colours(table: dict[str, tuple], index: Tensor) -> Tensor:
    return torch.tensor(list(table.values()), dtype=torch.float32)[index.long()]


def _field_grid(scale: Scale) -> Grid:
    # black, white, mid-grey, the six hues, and a grey of each hue's luminance
    greys = [(luminance(c),) * 3 for c in HUES.values()]
    colours = [INKS["black"], INKS["white"], GREY, *HUES.values(), *greys]
    rgb = np.array(colours, dtype=np.float64)
    return {"r": rgb[:, 0], "g": rgb[:, 1], "b": rgb[:, 2], "hue": np.array([-1, -1, -1, *range(6), *[-1] * 6], dtype=np.float64),
            "grey_of": np.array([-1, -1, -1, *[-1] * 6, *range(6)], dtype=np.float64)}


def _centre_surround_grid(scale: Scale) -> Grid:
    return _pairs(list(INKS))


def _colour_contrast_grid(scale: Scale) -> Grid:
    pairs = _pairs(list(HUES))
    angles = np.array([0.0, 45.0, 90.0, 135.0])
    n = len(pairs["first"])
    return {"first": np.repeat(pairs["first"], len(angles)), "second": np.repeat(pairs["second"], len(angles)),
            "orientation": np.tile(angles, n)}


def _draw_fields(p, scale, centre):
    rgb = torch.stack([p["r"], p["g"], p["b"]], dim=1)
    return fields(rgb).expand(-1, -1, SIZE, SIZE)


def _draw_centre_surround(p, scale, centre):
    inner = _colours(INKS, p["first"])
    outer = _colours(INKS, p["second"])
    disc = max(1.5, scale.field_px / 6)
    return center_surround(torch.full((len(inner),), disc), surround_radius=3 * disc, center_color=inner,
                           surround_color=outer, background=GREY, size=SIZE, center=centre)


BATTERY: tuple[StimulusKind, ...] = (
    StimulusKind("arcs", "arcs (120-degree span) whose convex side faces each orientation, every 10 degrees, dark on white "
                 "and white on black",
                 lambda s: _product(orientation=np.arange(0.0, 360.0, 10.0), polarity=POLARITIES),
                 lambda p, s, c: arcs(p["orientation"], s.radius, width=s.width, span=120.0, size=SIZE, center=c, polarity=p["polarity"])),
    StimulusKind("arc_lines", "straight lines as long as the arcs, along each arc's tangent, both polarities",
                 lambda s: _product(orientation=np.arange(0.0, 360.0, 10.0), polarity=POLARITIES),
                 lambda p, s, c: lines(p["orientation"] + 90.0, length=s.length, width=s.width, size=SIZE, center=c,
                                       polarity=p["polarity"])),
    StimulusKind("lines", "lines through the centre, every 10 degrees, both polarities",
                 lambda s: _product(orientation=np.arange(0.0, 180.0, 10.0), polarity=POLARITIES),
                 lambda p, s, c: lines(p["orientation"], length=s.length, width=s.width, size=SIZE, center=c, polarity=p["polarity"])),
    StimulusKind("shifted_lines", "the same lines moved off the centre, to either side",
                 lambda s: _product(orientation=np.arange(0.0, 180.0, 10.0), offset=(-1.0, 1.0), polarity=POLARITIES),
                 lambda p, s, c: _shifted_lines(p, s, c)),
    StimulusKind("edges", "light-dark boundaries through the centre, light on the side of the normal, every 10 degrees",
                 lambda s: _product(orientation=np.arange(0.0, 360.0, 10.0)),
                 lambda p, s, c: edges(p["orientation"], size=SIZE, center=c, foreground=INKS["white"], background=INKS["black"])),
    StimulusKind("gratings", "full-field grey sine gratings: 12 orientations x 4 wavelengths x 4 phases",
                 lambda s: _product(orientation=np.arange(0.0, 180.0, 15.0), wavelength=WAVELENGTHS, phase=PHASES),
                 lambda p, s, c: gratings(p["orientation"], wavelength=p["wavelength"], phase=p["phase"], size=SIZE, center=c)),
    StimulusKind("hatches", "cross-hatching: dark strokes along and across each orientation",
                 lambda s: _product(orientation=np.arange(0.0, 90.0, 15.0), wavelength=(6.0, 12.0)),
                 lambda p, s, c: hatches(p["orientation"], wavelength=p["wavelength"], width=1.5, size=SIZE, center=c)),
    StimulusKind("ramps", "brightness gradients across the receptive field, every 45 degrees",
                 lambda s: _product(orientation=np.arange(0.0, 360.0, 45.0)),
                 lambda p, s, c: ramps(p["orientation"], extent=float(s.field_px), size=SIZE, center=c)),
    StimulusKind("fields", "solid fields: black, white, grey, six hues and a grey of each hue's luminance",
                 _field_grid, _draw_fields),
    StimulusKind("centre_surround", "a disc of one ink (white, black or a hue) inside a ring of another, on grey",
                 _centre_surround_grid, _draw_centre_surround),
    StimulusKind("colour_contrast", "two hues meeting at a straight boundary, every ordered pair at 4 orientations",
                 _colour_contrast_grid,
                 lambda p, s, c: _colour_contrast(p, c)),
    StimulusKind("high_low", "fine grating (3 px) on the side of the normal, flat grey on the other, every 45 degrees",
                 lambda s: _product(orientation=np.arange(0.0, 360.0, 45.0)),
                 lambda p, s, c: half_gratings(p["orientation"], wavelength=3.0, size=SIZE, center=c)),
    StimulusKind("angles", "two strokes leaving the centre 90 degrees apart, the angle's bisector every 45 degrees",
                 lambda s: _product(orientation=np.arange(0.0, 360.0, 45.0)),
                 lambda p, s, c: rays(torch.stack([p["orientation"] - 45.0, p["orientation"] + 45.0], 1), length=s.length / 2,
                                      width=s.width, size=SIZE, center=c)),
    StimulusKind("crosses", "two lines crossing at the centre at right angles, every 15 degrees",
                 lambda s: _product(orientation=np.arange(0.0, 90.0, 15.0)),
                 lambda p, s, c: rays(torch.stack([p["orientation"] + k * 90.0 for k in range(4)], 1), length=s.length / 2,
                                      width=s.width, size=SIZE, center=c)),
    StimulusKind("rings", "small circles around the centre, four radii, dark on white and white on black",
                 lambda s: _product(radius=(0.08, 0.15, 0.25, 0.35), polarity=(1.0, -1.0)),
                 lambda p, s, c: rings(p["radius"] * s.field_px, width=s.width, polarity=p["polarity"], size=SIZE, center=c)),
)
KINDS = {k.name: k for k in BATTERY}


def _shifted_lines(p, s: Scale, c) -> Tensor:
    images = []
    for o, off, pol in zip(p["orientation"].tolist(), p["offset"].tolist(), p["polarity"].tolist()):
        t = np.deg2rad(o + 90.0)  # off the line along its normal (y points down on the canvas)
        centre = (c[0] + off * s.shift * np.cos(t), c[1] - off * s.shift * np.sin(t))
        images.append(lines(o, length=s.length, width=s.width, size=SIZE, center=centre, polarity=pol))
    return torch.cat(images)


def _colour_contrast(p, c) -> Tensor:
    return color_contrast(p["orientation"], (_colours(HUES, p["first"]), _colours(HUES, p["second"])), size=SIZE, center=c)


@dataclass
class KindResponses:
    grid: Grid
    responses: np.ndarray  # (stimuli, units)


@dataclass
class LayerResponses:
    layer: str
    scale: Scale
    kinds: dict[str, KindResponses] = field(default_factory=dict)

    def __getitem__(self, kind: str) -> np.ndarray:
        return self.kinds[kind].responses

    def grid(self, kind: str) -> Grid:
        return self.kinds[kind].grid


def render(kind: StimulusKind, grid: Grid, rows: Sequence[int] | Tensor, scale: Scale, centre: tuple[float, float]) -> Tensor:
    """The stimuli of `kind` at the given rows of its grid."""
    index = torch.as_tensor(rows).long()
    params = {k: torch.as_tensor(v, dtype=torch.float32)[index] for k, v in grid.items()}
    return kind.draw(params, scale, centre)


def measure_battery(model: nn.Module, units: Sequence[ProbeUnit], geometry: Geometry, kinds: Sequence[StimulusKind] = BATTERY,
                    progress: bool = False) -> LayerResponses:
    """Every unit's answer, at the centre of its receptive field, to every stimulus of every kind
    (units of one layer)."""
    layer = units[0].layer
    scale = Scale(int(geometry.span(layer).size))
    centre = stimulus_centre(layer, SIZE, geometry)
    out = LayerResponses(layer, scale)
    for kind in tqdm(kinds, desc=f"battery {layer}", unit="kind", disable=not progress, leave=False):
        grid = kind.grid(scale)
        count = len(next(iter(grid.values())))
        responses = responses_at_centre(model, units, lambda rows, kind=kind, grid=grid: render(kind, grid, rows, scale, centre),
                                        torch.arange(count))
        out.kinds[kind.name] = KindResponses(grid, responses)
    return out
