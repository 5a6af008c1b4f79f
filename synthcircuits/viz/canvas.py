"""How big a feature visualisation's image must be.

A unit at one position sees only its receptive field, so optimising a full-size image for it
spends most of the work on pixels it cannot see. A receptive-field canvas is the smallest
window whose centre unit sees only real pixels (no padding), plus a margin for the jitter;
the network runs on that window alone. Objectives that read whole layers (channels,
diversity, caricatures) or layers without a bounded receptive field keep the full canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UserError
from ..layout.geometry import Geometry
from .objectives import Objective

PAD = 12  # grey border the transforms add before the jitter (Lucent's standard transforms)
JITTERS = (8, 4)  # px of random crop before and after the scale and rotation
GROWTH = 2 * PAD - sum(JITTERS)  # the transformed image is this much wider than the canvas
JITTER_REACH = sum(JITTERS) // 2  # how far the two crops move the window from the centre
MARGIN = 8  # px kept on each side of the window in the picture: the jitter's reach and a little more
CANVASES = ("receptive", "full")


@dataclass(frozen=True)
class Canvas:
    """`side`: the optimised image. `window`: the network sees only the centre `window` px of
    the transformed image, and the objective's unit sits at `position` (row = column) of
    `layer` there; None for a full canvas, whose unit sits at the middle position. `shown`:
    the centre part of the image kept as the picture (the window and its margin)."""

    side: int
    window: int | None = None
    layer: str | None = None
    position: int | None = None

    @property
    def reach(self) -> int:
        """The centre part of the image the window can ever sample: the jitter moves it by up to
        JITTER_REACH px, a 10 degree turn and 0.9x zoom take its corners out to 0.644 of its side, and
        bilinear sampling reads one more pixel. Transforming only this part gives the window
        the same values, because rotation and zoom turn about the centre."""
        if self.window is None:
            return self.side
        reach = math.ceil(1.29 * self.window) + 2 * (JITTER_REACH + 2)
        return min(self.side, reach + (self.side - reach) % 2)

    @property
    def shown(self) -> int:
        return self.side if self.window is None else min(self.side, self.window + 2 * MARGIN)

    @property
    def network_side(self) -> int:
        """The side of the image the network sees."""
        return self.window if self.window is not None else self.side + GROWTH

    def describe(self) -> str:
        return f"{self.side} px" if self.window is None else f"{self.shown} px ({self.layer} receptive field {self.window} px)"


def plan_canvas(objective: Objective, geometry: Geometry | None, size: int, mode: str) -> Canvas:
    """The canvas for `objective`: its unit's receptive field where it has one, `mode` is
    "receptive" and the field is smaller than what the network sees of a full canvas
    (`size` + GROWTH); otherwise `size` px."""
    if mode not in CANVASES:
        raise UserError(f"unknown canvas {mode!r}", hint=f"one of: {', '.join(CANVASES)}")
    layer = objective.local_layer()
    if mode == "full" or layer is None or geometry is None or not geometry.knows(layer):
        return Canvas(size)
    window, position = receptive_window(geometry, layer)
    if window >= size + GROWTH:  # deep units see more than the whole canvas: nothing to save
        return Canvas(size)
    # The image stays at least `size` px although the unit sees less: Adam moves each pixel
    # of a Fourier image by an amount that grows with the image's side, so a smaller image
    # would climb more slowly per step. Only the window's cone is run through the network.
    side = max(window + 2 * MARGIN, size)
    return Canvas(side + (side - window) % 2, window, layer, position)


def receptive_window(geometry: Geometry, layer: str) -> tuple[int, int]:
    """(side, position): the smallest input side with a position of `layer` whose receptive
    field lies inside it, as centred as the strides allow."""
    span = geometry.span(layer)
    best: tuple[int, int, int] | None = None  # (imbalance, side, position)
    for side in range(max(span.size, 1), span.size + 2 * span.jump + 2):
        try:
            count = geometry.output_size(layer, side)
        except (ValueError, ZeroDivisionError):
            continue
        for position in range(max(count, 0)):
            lo, hi = geometry.input_span(layer, position)
            if lo >= 0 and hi <= side - 1:
                candidate = (abs(lo - (side - 1 - hi)), side, position)
                if best is None or candidate < best:
                    best = candidate
        if best is not None and best[0] <= 1:
            break
    if best is None:
        raise UserError(f"{layer}: no input size puts a whole receptive field inside the image", hint="use --canvas full")
    return best[1], best[2]
