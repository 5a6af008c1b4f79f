"""Weight diagrams: a unit's strongest inputs as spatial kernels, red for excitation and blue
for inhibition, each labelled with its unit address (the Circuits articles' convention)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from torch import Tensor

from ..layout.address import UnitAddress, unit_at
from ..models.expanded import expanded_layer_weights, traced_incoming
from ..outputs import atomic_target
from ..opened import OpenedModel
from ..layout.topology import feeding_layer

THRESHOLD = 0.3  # inputs whose largest weight reaches 30% of the unit's largest are shown


@dataclass(frozen=True)
class Kernel:
    name: str  # the input unit
    weights: np.ndarray  # (k, k)

    @property
    def strength(self) -> float:
        return float(np.abs(self.weights).max())


@dataclass(frozen=True)
class Cell:
    """Where a kernel was drawn: its box, and the size of one weight's square in pixels."""

    kernel: Kernel
    left: int
    top: int
    pixel: int

    def centre_of(self, row: int, col: int) -> tuple[int, int]:
        return self.left + col * self.pixel + self.pixel // 2, self.top + row * self.pixel + self.pixel // 2


def incoming_kernels(source: OpenedModel, unit: UnitAddress, through: int = 0) -> list[Kernel]:
    """Every input of `unit` from the layer that feeds it, through bottlenecks (expanded weights).

    `through`: for traced networks, also expand through that many stride-1 convs before it."""
    arch = source.architecture
    kind = arch.layer(unit.layer).kind
    if kind in ("pool", "norm", "softmax") and arch.key_scheme != "modules":
        raise ValueError(f"{unit.layer} is a {kind} layer: it has no weights of its own to draw; "
                         "draw the unit in the conv or block layer before it")
    state = source.model.state_dict()
    channel = source.channel_of(unit)
    if arch.key_scheme == "modules":
        incoming = traced_incoming(state, arch, unit.layer, channel, through)
        return [Kernel(name, w.detach().double().cpu().numpy()) for name, w in zip(incoming.names(), incoming.weights)]
    if arch.key_scheme != "googlenet" and not source.compact:
        raise ValueError(f"weight diagrams of {arch.name} read its weights as a traced network: "
                         "pass --arch torchvision:googlenet (the same file)")
    feeder = feeding_layer(arch, unit.layer)
    if feeder is None:
        raise ValueError(f"{unit} reads pixels; its weights are an RGB kernel, not a diagram of units")
    if source.compact:
        weights = state[f"convs.{unit.layer}.weight"][channel]
        names = [source.name_of(feeder.name, c) for c in range(weights.shape[0])]
    else:
        weights = expanded_layer_weights(state, arch, unit.layer)[channel]
        k = arch.layer(unit.layer).unit_kernel(unit.branch)
        pad = (weights.shape[-1] - k) // 2
        weights = weights[:, pad : pad + k, pad : pad + k]
        names = [str(unit_at(feeder.name, c, arch)) for c in range(weights.shape[0])]
    return [Kernel(name, w.detach().double().cpu().numpy()) for name, w in zip(names, weights)]


def strongest(kernels: Sequence[Kernel], threshold: float = THRESHOLD, limit: int = 40) -> list[Kernel]:
    top = max((k.strength for k in kernels), default=0.0)
    if top == 0:
        return []
    chosen = sorted((k for k in kernels if k.strength >= threshold * top), key=lambda k: -k.strength)
    return chosen[:limit]


def weight_colour(value: float, scale: float) -> tuple[int, int, int]:
    """White at 0, saturated red at +scale, saturated blue at -scale."""
    a = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    fade = round(255 * (1 - a))
    return (255, fade, fade) if value > 0 else (fade, fade, 255)


def draw_weight_diagram(
    title: str,
    kernels: Sequence[Kernel],
    path: str | Path,
    thumbnails: Mapping[str, Tensor] | None = None,
    columns: int = 8,
    cell: int = 72,
) -> list[Cell]:
    """Draw kernels in a grid (one colour scale for all), write a PNG, return where each went."""
    thumbnails = thumbnails or {}
    scale = max((k.strength for k in kernels), default=1.0)
    rows = max(1, -(-len(kernels) // columns))
    thumb = cell if thumbnails else 0
    block_h = thumb + cell + 18
    width, height = columns * (cell + 10) + 10, 28 + rows * block_h + 10
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title + ("" if kernels else "  (no inputs)"), fill="black")
    cells = []
    for i, kernel in enumerate(kernels):
        left = 10 + (i % columns) * (cell + 10)
        top = 28 + (i // columns) * block_h
        if kernel.name in thumbnails:
            picture = (thumbnails[kernel.name].clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
            image.paste(Image.fromarray(picture).resize((cell, cell)), (left, top))
        top += thumb
        k = kernel.weights.shape[0]
        pixel = cell // k
        for r in range(k):
            for c in range(k):
                box = (left + c * pixel, top + r * pixel, left + (c + 1) * pixel - 1, top + (r + 1) * pixel - 1)
                draw.rectangle(box, fill=weight_colour(kernel.weights[r, c], scale))
        draw.rectangle((left - 1, top - 1, left + k * pixel, top + k * pixel), outline=(170, 170, 170))
        draw.text((left, top + k * pixel + 3), kernel.name, fill="black")
        cells.append(Cell(kernel, left, top, pixel))
    path = Path(path)
    with atomic_target(path) as tmp:
        image.save(tmp, format="PNG")
    return cells
