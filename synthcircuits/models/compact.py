"""Compact networks: InceptionV1's pipeline (strides, pools, LRN) with only a spec's units.

One conv per layer; its description (names, widths, kernels) travels in the weights
file's metadata, so a compact build loads back without the spec.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import WeightsError
from .inceptionv1 import LRN, InceptionV1, max_pool_3x3_s2
from ..layout.architectures import INCEPTIONV1
from ..layout.geometry import INCEPTIONV1_GEOMETRY, Geometry
from .staged import NO_TAP, Stage, Tap, relu_with_taps, run_stages

LAYOUT_KEY = "synthcircuits.compact_layout"


@dataclass(frozen=True)
class CompactLayer:
    name: str  # the InceptionV1 layer it stands for
    in_channels: int
    out_channels: int
    kernel: int
    # Each unit's channel in InceptionV1's layer: local response normalisation mixes
    # neighbouring channels, so the compact net normalises over the same neighbours.
    positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.positions is not None:
            object.__setattr__(self, "positions", tuple(self.positions))


def lrn_neighbours(positions: Sequence[int], size: int = LRN["size"]) -> torch.Tensor:
    """(C, C) 0/1 matrix: which units fall in each unit's LRN window of `size` channels."""
    p = torch.as_tensor(positions)
    return ((p[:, None] - p[None, :]).abs() <= size // 2).float()


def local_response_norm(x: Tensor, neighbours: Tensor) -> Tensor:
    """LRN as InceptionV1 computes it, but over an explicit neighbourhood matrix."""
    summed = torch.einsum("oc,nchw->nohw", neighbours, x * x)
    return x / (LRN["k"] + LRN["alpha"] / LRN["size"] * summed) ** LRN["beta"]


class CompactNet(nn.Module):
    """Stages follow InceptionV1 from conv2d0 up to the last compact layer."""

    def __init__(self, layers: Sequence[CompactLayer]):
        super().__init__()
        self.layers = tuple(layers)
        self.convs = nn.ModuleDict({
            l.name: nn.Conv2d(l.in_channels, l.out_channels, l.kernel, stride=2 if l.name == "conv2d0" else 1, padding=0 if l.name == "conv2d0" else l.kernel // 2)
            for l in self.layers
        })
        self._norm_of = self._norm_inputs()
        for norm, layer in self._norm_of.items():
            positions = layer.positions if layer.positions is not None else range(layer.out_channels)
            self.register_buffer(f"neighbours_{norm}", lrn_neighbours(positions), persistent=False)
        self.eval()

    def _norm_inputs(self) -> dict[str, CompactLayer]:
        """Each normalisation stage, and the compact layer whose channels it normalises."""
        by_name = {l.name: l for l in self.layers}
        last = INCEPTIONV1.index(self.layers[-1].name)
        result, source = {}, None
        for layer in INCEPTIONV1.layers[: last + 1]:
            if layer.name in by_name:
                source = by_name[layer.name]
            elif layer.kind == "norm" and source is not None:
                result[layer.name] = source
        return result

    def norm(self, name: str, x: Tensor) -> Tensor:
        return local_response_norm(x, getattr(self, f"neighbours_{name}"))

    preprocess = staticmethod(InceptionV1.preprocess)

    def forward(self, x: Tensor) -> Tensor:
        return run_stages(self, x, NO_TAP, self.layers[-1].name)

    def stages(self) -> Sequence[tuple[str, Stage]]:
        last = INCEPTIONV1.index(self.layers[-1].name)
        stages: list[tuple[str, Stage]] = []
        for layer in INCEPTIONV1.layers[: last + 1]:
            if layer.name in self.convs:
                stages.append((layer.name, partial(self._conv, layer.name)))
            elif layer.kind == "pool":
                stages.append((layer.name, lambda x, tap: max_pool_3x3_s2(x)))
            elif layer.kind == "norm":
                stages.append((layer.name, partial(self._norm_stage, layer.name)))
            else:
                raise ValueError(f"compact nets need a conv for every unit layer up to {self.layers[-1].name}; {layer.name} has none")
        return stages

    @staticmethod
    def geometry() -> Geometry:
        """Compact nets run InceptionV1's stages, so they share its geometry."""
        return INCEPTIONV1_GEOMETRY

    def hook_points(self) -> dict[str, str]:
        points = {name: name for name, _ in self.stages()}
        points.update({f"{name}_pre_relu": name for name in self.convs})
        return points

    def _norm_stage(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return self.norm(name, x)

    def _conv(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        if name == "conv2d0":
            x = F.pad(x, (2, 3, 2, 3))
        return relu_with_taps(name, self.convs[name](x), tap)

    def layout_metadata(self) -> str:
        return json.dumps([asdict(l) for l in self.layers])


def compact_from_metadata(text: str, source: str = "the file") -> CompactNet:
    """The compact net a file's layout metadata describes, after checking the description is one
    InceptionV1 could hold (a lying layout must not allocate, nor fail deep inside torch)."""
    hint = "rebuild the file with `synthcircuits build --target compact`"
    try:
        layers = [CompactLayer(**entry) for entry in json.loads(text)]
    except (ValueError, TypeError, AttributeError):
        raise WeightsError(f"{source}: its {LAYOUT_KEY} metadata is not a list of compact layers", hint=hint) from None
    for layer in layers:
        known = INCEPTIONV1.layer(layer.name) if isinstance(layer.name, str) and INCEPTIONV1.has_layer(layer.name) else None
        sizes = (layer.in_channels, layer.out_channels, layer.kernel)
        if (known is None or not all(isinstance(n, int) and n >= 1 for n in sizes) or layer.out_channels > known.channels
                or layer.in_channels > 1024 or layer.kernel > 15
                or (layer.positions is not None and (len(layer.positions) != layer.out_channels
                                                     or not all(isinstance(c, int) and 0 <= c < known.channels for c in layer.positions)))):
            raise WeightsError(f"{source}: its {LAYOUT_KEY} metadata describes a layer InceptionV1 cannot hold: {layer}", hint=hint)
    if not layers:
        raise WeightsError(f"{source}: its {LAYOUT_KEY} metadata lists no layers", hint=hint)
    return CompactNet(layers)
