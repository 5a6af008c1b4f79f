"""Who feeds whom in a GoogLeNet-shaped layout, and which tensors read a unit.

These walks over `Architecture.layers` used to live in the spec parser and the edit
wiring; they are questions about the network, so they live with its table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .address import UnitAddress
from .architectures import Architecture, Layer
from .keys import bottleneck_name, conv_name


def first_layer(arch: Architecture) -> Layer:
    """The conv that reads pixels."""
    return next(layer for layer in arch.layers if layer.kind == "conv")


def feeding_layer(arch: Architecture, layer_name: str) -> Layer | None:
    """The conv or block layer whose units feed `layer_name` (pools and norms keep channels)."""
    index = arch.index(layer_name)
    for layer in reversed(arch.layers[:index]):
        if layer.kind in ("conv", "block"):
            return layer
    return None


def fed_layer(arch: Architecture, layer: str) -> Layer | None:
    """The conv or block layer that reads `layer`'s units (None: the classifier does)."""
    for candidate in arch.layers[arch.index(layer) + 1 :]:
        if candidate.kind in ("conv", "block"):
            return candidate
    return None


def lrn_between(arch: Architecture, layer: str) -> bool:
    """Whether a local response normalisation sits between `layer` and its readers."""
    nxt = fed_layer(arch, layer)
    stop = arch.index(nxt.name) if nxt else len(arch.layers)
    return any(l.kind == "norm" for l in arch.layers[arch.index(layer) + 1 : stop])


def feeds(arch: Architecture, source: UnitAddress, target: UnitAddress) -> bool:
    feeder = feeding_layer(arch, target.layer)
    return feeder is not None and feeder.name == source.layer


@dataclass(frozen=True)
class Reader:
    """A conv (or the classifier) reading a unit's channel; `pooled` if through a max pool."""

    tensor: str  # the weight tensor's key
    kernel: int
    pooled: bool = False


def readers(arch: Architecture, unit: UnitAddress) -> list[Reader]:
    """Every weight tensor that reads `unit` directly."""
    nxt = fed_layer(arch, unit.layer)
    if nxt is None:
        return [Reader(f"{arch.classifier}.weight", 0)]
    if nxt.branches:
        return [
            Reader(f"{conv_name(nxt.name, '1x1')}.weight", 1),
            Reader(f"{bottleneck_name(nxt.name, '3x3')}.weight", 1),
            Reader(f"{bottleneck_name(nxt.name, '5x5')}.weight", 1),
            Reader(f"{conv_name(nxt.name, 'pool_reduce')}.weight", 1, pooled=True),
        ]
    return [Reader(f"{conv_name(nxt.name)}.weight", nxt.kernel)]


def layer_convs(arch: Architecture, layer: Layer) -> list[str]:
    """Key prefixes of every conv that computes `layer` (a block's bottlenecks and branches)."""
    if layer.kind == "conv":
        return [conv_name(layer.name)]
    if layer.kind != "block":
        return []
    return [bottleneck_name(layer.name, b.name) for b in layer.branches if b.bottleneck] + [conv_name(layer.name, b.name) for b in layer.branches]


def pre_activation_point(unit: UnitAddress) -> str:
    """The hook point holding the unit's pre-activation, e.g. `mixed3b_5x5_pre_relu`."""
    return f"{unit.layer}_{unit.branch}_pre_relu" if unit.branch else f"{unit.layer}_pre_relu"
