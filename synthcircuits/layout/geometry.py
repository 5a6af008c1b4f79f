"""Spatial geometry: which input pixels a unit at a position sees, and how big a layer is.

Two descriptions give the same answers:
- a chain of windows (kernel, stride, padding) for the hand-written GoogLeNet stages;
- per-layer spans for traced networks: position o of a layer reads input pixels
  `lo + o * jump ... hi + o * jump`, and its size follows from a list of size steps.
A unit's receptive field is what unit-level probing crops and what stimuli are centred on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import UserError
from .architectures import INCEPTIONV1, Architecture


@dataclass(frozen=True)
class Window:
    kernel: int
    stride: int
    pad_before: int
    pad_after: int


Windows = Mapping[str, Window]


@dataclass(frozen=True)
class SizeStep:
    """One resizing op: out = floor_or_ceil((in + pad - reach) / stride) + 1."""

    reach: int  # dilation * (kernel - 1) + 1
    stride: int
    pad: int  # both sides together
    ceil: bool = False

    def apply(self, size: int) -> int:
        span = size + self.pad - self.reach
        out = (-(-span // self.stride) if self.ceil else span // self.stride) + 1
        if self.ceil and (out - 1) * self.stride >= size + self.pad // 2:  # PyTorch: the last window starts inside
            out -= 1
        return out


@dataclass(frozen=True)
class Span:
    """Position o of a layer reads input pixels lo + o * jump ... hi + o * jump (inclusive)."""

    jump: int
    lo: int
    hi: int
    steps: tuple[SizeStep, ...] = ()

    @property
    def size(self) -> int:
        """The receptive field's width in pixels."""
        return self.hi - self.lo + 1


class Geometry:
    """Receptive fields and layer sizes of one model, from per-layer spans (traced networks) or
    from a chain of windows (`from_windows`, the GoogLeNet stages)."""

    def __init__(self, spans: Mapping[str, Span], windows: Windows | None = None):
        self.spans = dict(spans)
        self.windows = dict(windows) if windows is not None else None  # stage by stage, where known

    @classmethod
    def from_windows(cls, windows: Windows) -> Geometry:
        spans, jump, lo, hi, steps = {}, 1, 0, 0, ()
        for name, w in windows.items():
            lo, hi = lo - w.pad_before * jump, hi + (w.kernel - 1 - w.pad_before) * jump
            jump *= w.stride
            steps = steps + (SizeStep(w.kernel, w.stride, w.pad_before + w.pad_after),)
            spans[name] = Span(jump, lo, hi, steps)
        return cls(spans, windows)

    def cone(self, layer: str, side: int, position: int) -> Cone | None:
        """What a stage-by-stage run must compute for the unit at `position` (row = column)
        of `layer` on a `side` px input; None where the stages' windows are not known."""
        if self.windows is None or layer not in self.windows:
            return None
        return unit_cone(self.windows, layer, side, position)

    def knows(self, layer: str) -> bool:
        return layer in self.spans

    def span(self, layer: str) -> Span:
        try:
            return self.spans[layer]
        except KeyError:
            raise UserError(f"{layer}: no bounded receptive field (a global pool, a vector, or an op that mixes every "
                            "position), so no stimulus centres on its units",
                            hint="probe a conv, norm, activation or block layer") from None

    def output_size(self, layer: str, image_size: int) -> int:
        size = image_size
        for step in self.span(layer).steps:
            size = step.apply(size)
        return size

    def input_span(self, layer: str, position: int) -> tuple[int, int]:
        """First and last input pixel index (inclusive, may lie outside the image) a unit sees."""
        s = self.span(layer)
        return s.lo + position * s.jump, s.hi + position * s.jump

    def receptive_field_center(self, layer: str, position: int) -> float:
        """Centre of a unit's receptive field in continuous pixel coordinates (pixel i spans [i, i+1))."""
        lo, hi = self.input_span(layer, position)
        return (lo + hi + 1) / 2

    def centre_position(self, layer: str, image_size: int) -> int:
        """The position of `layer` whose receptive field is centred closest to the image centre."""
        n = self.output_size(layer, image_size)
        if n < 1:
            raise ValueError(f"{layer} has no positions at {image_size} px")
        return min(range(n), key=lambda p: abs(self.receptive_field_center(layer, p) - image_size / 2))


@dataclass(frozen=True)
class Cone:
    """The part of each stage one unit depends on. A run crops its input to `input` and the
    output of each stage named in `crops` to that range (first and last index, inclusive, in
    the map the cropped run produces; the same for rows and columns); the last stage is left
    whole, and the unit sits at `position` of it. Every value inside the cone is computed from
    the same pixels as in the whole run, so the unit's activation is unchanged."""

    stages: tuple[str, ...]
    input: tuple[int, int]
    crops: Mapping[str, tuple[int, int]]
    position: int


def unit_cone(windows: Windows, layer: str, side: int, position: int) -> Cone:
    names = stages_up_to(layer, windows)
    sizes = [side]
    for name in names:
        w = windows[name]
        sizes.append(SizeStep(w.kernel, w.stride, w.pad_before + w.pad_after).apply(sizes[-1]))
    if not 0 <= position < sizes[-1]:
        raise ValueError(f"{layer} has no position {position} at {side} px")
    # Backward: the range of each stage's output that the unit needs. A range starts on a
    # multiple of the next stage's stride, so the cropped run lines up with the whole one.
    needed: list[tuple[int, int]] = [(position, position)]
    for i in reversed(range(len(names))):
        w = windows[names[i]]
        first, last = needed[0]
        lo = first * w.stride - w.pad_before
        hi = last * w.stride - w.pad_before + w.kernel - 1
        needed.insert(0, (max(0, lo) // w.stride * w.stride, min(sizes[i] - 1, hi)))
    # Forward: where each cropped stage's output starts in whole-run coordinates.
    crops: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(names):
        offset = needed[i][0] // windows[name].stride
        if i == len(names) - 1:
            return Cone(tuple(names), needed[0], crops, position - offset)
        crops[name] = (needed[i + 1][0] - offset, needed[i + 1][1] - offset)
    raise AssertionError("unreachable")


def layout_windows(arch: Architecture, first_conv_pad: tuple[int, int, int, int]) -> dict[str, Window]:
    """Windows of every spatial stage of a GoogLeNet-shaped layout, in forward order.

    Max pools are 3x3 stride 2 with one extra row/column at the far side (TF 'SAME' and
    Caffe's round-up give the same sizes); the global pool before the classifier has none.
    """
    windows: dict[str, Window] = {}
    for i, layer in enumerate(arch.layers):
        if layer.kind == "conv" and i == 0:
            windows[layer.name] = Window(layer.kernel, 2, first_conv_pad[0], first_conv_pad[1])
        elif layer.kind == "pool" and arch.layers[i + 1].kind == "linear":
            break
        elif layer.kind == "pool":
            windows[layer.name] = Window(3, 2, 0, 1)
        elif layer.branches:
            k = max(b.kernel for b in layer.branches)
            windows[layer.name] = Window(k, 1, k // 2, k // 2)
        elif layer.kind == "conv":
            windows[layer.name] = Window(layer.kernel, 1, layer.kernel // 2, layer.kernel // 2)
        elif layer.kind == "norm":
            windows[layer.name] = Window(1, 1, 0, 0)
    return windows


INCEPTIONV1_WINDOWS = layout_windows(INCEPTIONV1, (2, 3, 2, 3))
INCEPTIONV1_GEOMETRY = Geometry.from_windows(INCEPTIONV1_WINDOWS)


def stages_up_to(layer: str, windows: Windows) -> list[str]:
    names = list(windows)
    if layer not in names:
        raise KeyError(f"no spatial geometry for {layer!r}")
    return names[: names.index(layer) + 1]


def common_jump(spans: Sequence[Span]) -> int:
    jumps = {s.jump for s in spans}
    if len(jumps) != 1:
        raise ValueError(f"inputs with different strides meet: {sorted(jumps)}")
    return jumps.pop()
