"""Which tensors carry a unit's incoming weights, and which read it (its outgoing weights)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models.address import UnitAddress
from ..models.layout import Architecture, Layer
from ..spec.parse import feeding_layer


@dataclass(frozen=True)
class Reader:
    """A conv (or the classifier) reading a unit's channel; `pooled` if through a max pool."""

    tensor: str  # the weight tensor's key
    kernel: int
    pooled: bool = False


def fed_layer(arch: Architecture, layer: str) -> Layer | None:
    """The conv or block layer that reads `layer`'s units (None: the classifier does)."""
    start = arch.index(layer) + 1
    for candidate in arch.layers[start:]:
        if candidate.kind in ("conv", "block"):
            return candidate
    return None


def readers(arch: Architecture, unit: UnitAddress) -> list[Reader]:
    nxt = fed_layer(arch, unit.layer)
    if nxt is None:
        return [Reader(f"{arch.classifier}.weight", 0)]
    if nxt.branches:
        return [
            Reader(f"{nxt.name}_1x1_pre_relu_conv.weight", 1),
            Reader(f"{nxt.name}_3x3_bottleneck_pre_relu_conv.weight", 1),
            Reader(f"{nxt.name}_5x5_bottleneck_pre_relu_conv.weight", 1),
            Reader(f"{nxt.name}_pool_reduce_pre_relu_conv.weight", 1, pooled=True),
        ]
    return [Reader(f"{nxt.name}_pre_relu_conv.weight", nxt.kernel)]


def lrn_between(arch: Architecture, layer: str) -> bool:
    """Whether a local response normalisation sits between `layer` and its readers."""
    nxt = fed_layer(arch, layer)
    stop = arch.index(nxt.name) if nxt else len(arch.layers)
    return any(l.kind == "norm" for l in arch.layers[arch.index(layer) + 1 : stop])


def feeds(arch: Architecture, source: UnitAddress, target: UnitAddress) -> bool:
    feeder = feeding_layer(arch, target.layer)
    return feeder is not None and feeder.name == source.layer
