"""Every unit's strongest incoming and outgoing units by expanded weight, from one expansion per
layer: a layer's expanded weights give its units' incoming kernels (rows) and, read by column,
its feeding layer's outgoing ones. GoogLeNet layouts expand through the inception bottlenecks;
traced networks through the 1x1 bottleneck before a conv (batch-norm scale folded in)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..layout.topology import feeding_layer
from ..models.expanded import expanded_layer_weights, traced_incoming
from ..opened import OpenedModel
from .plan import AtlasLayer

SHOWN = 6  # excitatory and inhibitory links shown each way


@dataclass(frozen=True)
class Link:
    unit: str  # the other unit's name
    layer: str
    channel: int
    net: float  # the kernel's sum: > 0 excites, < 0 inhibits
    kernel: np.ndarray  # (k, k)


@dataclass
class UnitLinks:
    incoming: list[Link]
    outgoing: list[Link]
    note: str = ""  # why there are none, where there cannot be


@dataclass(frozen=True)
class LayerWeights:
    layer: str
    feeder: str
    weights: np.ndarray  # (units of layer, units of feeder, k, k)


def layer_weights(source: OpenedModel, layer: str) -> LayerWeights | str:
    """The layer's expanded weights on its feeding layer, or why there are none."""
    arch = source.architecture
    state = source.model.state_dict()
    if arch.key_scheme == "modules":
        try:
            rows = [traced_incoming(state, arch, layer, c) for c in range(arch.layer(layer).channels)]
        except ValueError as exc:
            return str(exc)
        return LayerWeights(layer, _through_elementwise(arch, rows[0].input_layer),
                            np.stack([r.weights.detach().double().cpu().numpy() for r in rows]))
    if arch.key_scheme != "googlenet":
        return f"weights of {arch.name} are read as a traced network: open the file with --arch torchvision:googlenet"
    feeder = feeding_layer(arch, layer)
    if feeder is None:
        return f"{layer} reads pixels: its weights are RGB kernels, not units"
    return LayerWeights(layer, feeder.name, expanded_layer_weights(state, arch, layer).detach().double().cpu().numpy())


def _through_elementwise(arch, name: str) -> str:
    """A traced conv reads a ReLU of a batch norm of the conv before it: the units are that
    conv's, one for one (the atlas names and links them there)."""
    while arch.layer(name).kind in ("relu", "norm") and arch.layer(name).inputs and arch.has_layer(arch.layer(name).inputs[0]):
        name = arch.layer(name).inputs[0]
    return name


def unit_links(source: OpenedModel, layers: Sequence[AtlasLayer]) -> dict[tuple[str, int], UnitLinks]:
    """(layer, channel) -> its links, for every unit of the atlas."""
    out = {(u.layer, u.channel): UnitLinks([], []) for layer in layers for u in layer.units}
    for layer in layers:
        found = layer_weights(source, layer.name)
        if isinstance(found, str):
            for u in layer.units:
                out[(u.layer, u.channel)].note = found
            continue
        names = [source.name_of(found.feeder, c) for c in range(found.weights.shape[1])]
        nets = found.weights.sum(axis=(2, 3))  # (units, feeder units)
        for u in layer.units:
            out[(u.layer, u.channel)].incoming = _strongest(nets[u.channel], found.weights[u.channel], found.feeder, names)
        targets = [source.name_of(layer.name, j) for j in range(found.weights.shape[0])]
        for c in range(found.weights.shape[1]):
            if (found.feeder, c) in out:  # the feeding layer is in the atlas too: its outgoing links
                out[(found.feeder, c)].outgoing = _strongest(nets[:, c], found.weights[:, c], layer.name, targets)
    return out


def _strongest(nets: np.ndarray, kernels: np.ndarray, layer: str, names: Sequence[str]) -> list[Link]:
    order = np.argsort(nets)
    positive = [int(i) for i in order[::-1][:SHOWN] if nets[i] > 0]
    negative = [int(i) for i in order[:SHOWN] if nets[i] < 0]
    return [Link(names[i], layer, i, float(nets[i]), kernels[i]) for i in positive + negative]

