"""Arrangement stimuli: pictures composed of parts placed at chosen offsets, and their flips.

A picture is plain data (the spec schema's `PICTURE`): a size, a background and parts, each a
drawn shape (line, arc, ring, disc, box) or a pasted square (a unit's feature visualisation, an
image file) placed `at` [x, y] px from the centre, y up. Shapes are anti-aliased ink laid over
what is already there, so parts overlap as strokes on paper do. A derived picture is another
picture of the same set flipped left-right or top-bottom. Rendering is deterministic: pasted
squares come from a callable the caller supplies (the probe renders visualisations with a seed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from . import render

DEFAULT_SIZE = 223  # odd: InceptionV1's strided grid is then left-right symmetric (see probe.pictures)
Paste = Callable[[str, dict[str, Any], int], Tensor]  # (part kind, part parameters, side px) -> (3, side, side) in [0, 1]
PASTED = ("visualisation", "image")


def render_pictures(pictures: Mapping[str, Mapping[str, Any]], paste: Paste | None = None) -> dict[str, Tensor]:
    """Every picture of a set, (3, size, size) each; derived ones from the drawn ones they flip."""
    drawn = {name: draw_picture(p, paste) for name, p in pictures.items() if "of" not in p}
    derived = {name: flip(drawn[p["of"]], p["flip"]) for name, p in pictures.items() if "of" in p}
    return {name: drawn.get(name, derived.get(name)) for name in pictures}


def flip(image: Tensor, how: str) -> Tensor:
    """Left-right ("horizontal") or top-bottom ("vertical") mirror image of (..., H, W)."""
    return image.flip(-1 if how == "horizontal" else -2)


def draw_picture(picture: Mapping[str, Any], paste: Paste | None = None) -> Tensor:
    size = int(picture.get("size", DEFAULT_SIZE))
    background = picture.get("background", 1.0)
    canvas = torch.as_tensor(background, dtype=torch.float32).reshape(-1, 1, 1).expand(3, size, size).clone()
    for part in picture.get("parts", []):
        kind = next(k for k in part if k not in ("at", "colour"))
        x, y = part.get("at", (0.0, 0.0))
        centre = (size / 2 + x, size / 2 - y)
        if kind == "boundary":  # a whole-picture figure/ground boundary through `at`
            b = part[kind]
            canvas = render.cue_boundaries(float(b["angle"]), tuple(b.get("cues", render.CUES)), shape=b.get("shape", "straight"),
                                           radius=float(b.get("radius", 40.0)), size=size, center=centre,
                                           against=tuple(b.get("against", ())))[0]
            continue
        if kind in PASTED:
            if paste is None:
                raise ValueError(f"a {kind} part needs a source of pasted pictures")
            side = int(part[kind].get("size", 64))
            _paste(canvas, paste(kind, dict(part[kind]), side), centre)
            continue
        ink = shape_ink(kind, part[kind], size, centre)
        colour = torch.as_tensor(part.get("colour", (0.0, 0.0, 0.0)), dtype=torch.float32).view(3, 1, 1)
        canvas = canvas * (1 - ink) + colour * ink
    return canvas.clamp(0, 1)


def shape_ink(kind: str, params: Mapping[str, Any], size: int, centre: tuple[float, float]) -> Tensor:
    """Ink coverage (size, size) in [0, 1] of one drawn shape."""
    width = float(params.get("width", 3.0))
    if kind == "line":
        painted = render.lines(float(params["angle"]), length=float(params["length"]), width=width, size=size, center=centre)
    elif kind == "arc":
        painted = render.arcs(float(params["orientation"]), float(params["radius"]), width=width, span=float(params.get("span", 120.0)),
                              size=size, center=centre)
    elif kind == "ring":
        painted = render.rings(float(params["radius"]), width=width, size=size, center=centre)
    elif kind == "disc":
        coords = torch.arange(size, dtype=torch.float32) + 0.5
        distance = torch.hypot(coords.view(1, size) - centre[0], coords.view(size, 1) - centre[1])
        return (float(params["radius"]) + 0.5 - distance).clamp(0, 1)  # anti-aliased over one pixel, as strokes are
    elif kind == "box":
        return _box_ink(float(params["width"]), float(params["height"]), float(params.get("stroke", 3.0)), size, centre)
    else:  # the schema admits no other
        raise ValueError(kind)
    return 1 - painted[0, 0]


def _box_ink(width: float, height: float, stroke: float, size: int, centre: tuple[float, float]) -> Tensor:
    cx, cy = centre
    sides = [(0.0, width + stroke, (cx, cy - height / 2)), (0.0, width + stroke, (cx, cy + height / 2)),
             (90.0, height + stroke, (cx - width / 2, cy)), (90.0, height + stroke, (cx + width / 2, cy))]
    ink = torch.zeros(size, size)
    for angle, length, at in sides:
        ink = torch.maximum(ink, 1 - render.lines(angle, length=length, width=stroke, size=size, center=at)[0, 0])
    return ink


def _paste(canvas: Tensor, square: Tensor, centre: tuple[float, float]) -> None:
    """Overwrite the part of `canvas` that `square` covers when centred at `centre` (clipped at the edges)."""
    side, size = square.shape[-1], canvas.shape[-1]
    left, top = round(centre[0] - side / 2), round(centre[1] - side / 2)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + side, size), min(top + side, size)
    if x0 < x1 and y0 < y1:
        canvas[:, y0:y1, x0:x1] = square[:, y0 - top : y1 - top, x0 - left : x1 - left]


SCALED = {"line": ("length",), "arc": ("radius",), "ring": ("radius",), "disc": ("radius",), "box": ("width", "height"),
          "boundary": ("radius",)}
STROKED = {"line": "width", "arc": "width", "ring": "width", "box": "stroke"}


def varied_picture(picture: Mapping[str, Any], offset: tuple[float, float] = (0.0, 0.0), width: float | None = None,
                   scale: float = 1.0) -> dict[str, Any]:
    """A drawn picture moved by `offset` px (x right, y up), every stroke drawn `width` px wide,
    and every size and placement scaled by `scale` about the centre (pasted squares keep their size)."""
    parts = []
    for part in picture.get("parts", []):
        kind = next(k for k in part if k not in ("at", "colour"))
        shape = dict(part[kind])
        for key in SCALED.get(kind, ()):
            if key in shape:
                shape[key] = float(shape[key]) * scale
        if width is not None and kind in STROKED:
            shape[STROKED[kind]] = width
        x, y = part.get("at", (0.0, 0.0))
        parts.append({**part, kind: shape, "at": [x * scale + offset[0], y * scale + offset[1]]})
    return {**picture, "parts": parts}


def negative(image: Tensor) -> Tensor:
    """The picture with light and dark swapped: light strokes on a dark ground."""
    return 1.0 - image
