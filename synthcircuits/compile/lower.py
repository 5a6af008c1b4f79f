"""Stage 3: circuit graph + placement -> state dict, for the `inceptionv1` and `compact` targets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..errors import Location
from ..language.source import SpecError
from ..kernels.geometry import embed_centered
from ..layout.address import UnitAddress
from ..layout.keys import bottleneck_name, conv_key, conv_row
from ..layout.topology import feeding_layer
from ..models.compact import CompactLayer
from ..models.zoo import expected_shapes
from .graph import CircuitGraph


@dataclass(frozen=True)
class BottleneckUse:
    """How many of a branch's 1x1 bottleneck channels carry the spec's inputs, and which."""

    block: str
    branch: str
    width: int
    channels: tuple[int, ...]
    sources: tuple[UnitAddress, ...]


def lower_inceptionv1(
    graph: CircuitGraph,
    placement: Mapping[tuple[str, int], UnitAddress],
    base: Mapping[str, Tensor] | None = None,
) -> tuple[dict[str, Tensor], list[BottleneckUse]]:
    """Write the graph into the spec architecture's tensors (InceptionV1's, or BVLC GoogLeNet's
    for a base patch); units not in the spec stay zero (or as in `base`)."""
    shapes = expected_shapes(graph.architecture.name)
    state = {k: (base[k].detach().double().numpy().copy() if base is not None else np.zeros(s)) for k, s in shapes.items()}
    spec = graph.spec

    def clear(address: UnitAddress) -> None:
        key = conv_key(address)
        state[f"{key}.weight"][conv_row(address)] = 0.0
        state[f"{key}.bias"][conv_row(address)] = 0.0

    for address in spec.zero:
        clear(address)
    for (family, index), address in placement.items():
        if graph.families[family].keep:
            continue
        clear(address)
        state[f"{conv_key(address)}.bias"][conv_row(address)] = graph.biases[family][index]
    for family, kernels in graph.pixel_kernels.items():
        for index, kernel in enumerate(kernels):
            address = placement[(family, index)]
            state[f"{conv_key(address)}.weight"][conv_row(address)] = kernel

    routes, uses = _route_bottlenecks(graph, placement, state, base is not None)
    for (target, source), w in graph.weights.items():
        for j, i in zip(*np.nonzero(np.abs(w).sum(axis=(-2, -1)))):
            t, s = placement[(target, j)], placement[(source, i)]
            column = routes[(t.layer, t.branch)][s.channel] if t.branch in ("3x3", "5x5") else s.channel
            state[f"{conv_key(t)}.weight"][conv_row(t), column] += w[j, i]
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()}, uses


def _route_bottlenecks(graph, placement, state, patching: bool):
    """Give each distinct input of a 3x3/5x5 branch one bottleneck channel: a ReLU-safe pass-through."""
    needed: dict[tuple[str, str], set[int]] = {}
    for (target, source), w in graph.weights.items():
        for j, i in zip(*np.nonzero(np.abs(w).sum(axis=(-2, -1)))):
            t = placement[(target, j)]
            if t.branch in ("3x3", "5x5"):
                needed.setdefault((t.layer, t.branch), set()).add(placement[(source, i)].channel)
    routes: dict[tuple[str, str], dict[int, int]] = {}
    uses = []
    arch = graph.architecture
    for (block, branch), sources in sorted(needed.items()):
        width = arch.layer(block).branch(branch).bottleneck
        key = f"{block}_{branch}"
        if patching:
            if key not in graph.spec.bottleneck_channels:
                raise SpecError(
                    f"patching a base, the compiler needs {len(sources)} channels of the {key} "
                    f"bottleneck and may not take trained ones unasked",
                    location=Location(graph.spec.file),
                    hint=f"add bottleneck_channels: {{{key}: [...]}} listing {len(sources)} channels it may overwrite",
                )
            slots = list(graph.spec.bottleneck_channels[key])
        else:
            slots = list(range(width))
        if len(sources) > len(slots):
            first = next(f for f in graph.families.values() if f.layer == block and f.branch == branch)
            raise SpecError(
                f"{block} {branch} branch reads its inputs through a {width}-channel bottleneck "
                f"({len(slots)} available to the spec), but its units need {len(sources)} distinct inputs",
                location=first.location,
                hint="read from fewer input units (fewer orientations, or narrower rules), or move units to the 1x1 branch",
            )
        route = dict(zip(sorted(sources), slots))
        weight, bias = state[f"{bottleneck_name(block, branch)}.weight"], state[f"{bottleneck_name(block, branch)}.bias"]
        for source_channel, slot in route.items():
            weight[slot] = 0.0
            weight[slot, source_channel] = 1.0
            bias[slot] = 0.0
        routes[(block, branch)] = route
        placed = {a.channel: a for a in placement.values() if a.layer == feeding_layer(arch, block).name}
        uses.append(BottleneckUse(block, branch, width, tuple(route.values()), tuple(placed[c] for c in sorted(sources))))
    return routes, uses


def compact_layers(graph: CircuitGraph, placement: Mapping[tuple[str, int], UnitAddress] | None = None) -> list[CompactLayer]:
    """One conv per unit layer, from the first layer to the spec's deepest; every one must have units."""
    arch = graph.architecture
    used = graph.layers()
    chain = [l.name for l in arch.layers[: arch.index(used[-1]) + 1] if l.kind in ("conv", "block")]
    missing = [name for name in chain if name not in used]
    if missing:
        raise SpecError(
            f"the compact target builds every layer from {chain[0]} to {chain[-1]}, "
            f"but the spec has no units in {', '.join(missing)}",
            location=Location(graph.spec.file),
            hint="build with --target inceptionv1, or add families to those layers",
        )
    layers, in_channels = [], 3
    for name in chain:
        families = [f for f in graph.families.values() if f.layer == name]
        out = sum(f.size for f in families)
        positions = None
        if placement is not None:
            positions = tuple(placement[(f.name, i)].channel for f in families for i in range(f.size))
        layers.append(CompactLayer(name, in_channels, out, max(graph.kernel_sizes[f.name] for f in families), positions))
        in_channels = out
    return layers


def compact_index(graph: CircuitGraph) -> dict[tuple[str, int], int]:
    """(family, index) -> channel in its compact layer: families in spec order."""
    index: dict[tuple[str, int], int] = {}
    counters: dict[str, int] = {}
    for f in graph.families.values():
        for i in range(f.size):
            index[(f.name, i)] = counters.get(f.layer, 0)
            counters[f.layer] = index[(f.name, i)] + 1
    return index


def lower_compact(graph: CircuitGraph, placement: Mapping[tuple[str, int], UnitAddress] | None = None) -> tuple[dict[str, Tensor], list[CompactLayer]]:
    """One conv per layer; with a `placement`, units keep InceptionV1's LRN neighbourhoods."""
    layers = compact_layers(graph, placement)
    index = compact_index(graph)
    state: dict[str, np.ndarray] = {}
    for l in layers:
        state[f"convs.{l.name}.weight"] = np.zeros((l.out_channels, l.in_channels, l.kernel, l.kernel))
        state[f"convs.{l.name}.bias"] = np.zeros(l.out_channels)
    kernel_of = {l.name: l.kernel for l in layers}
    for f in graph.families.values():
        for i in range(f.size):
            state[f"convs.{f.layer}.bias"][index[(f.name, i)]] = graph.biases[f.name][i]
    for family, kernels in graph.pixel_kernels.items():
        layer = graph.families[family].layer
        for i, kernel in enumerate(kernels):
            state[f"convs.{layer}.weight"][index[(family, i)]] = embed_centered(kernel, kernel_of[layer])
    for (target, source), w in graph.weights.items():
        layer = graph.families[target].layer
        w = embed_centered(w, kernel_of[layer])
        rows = [index[(target, j)] for j in range(w.shape[0])]
        cols = [index[(source, i)] for i in range(w.shape[1])]
        state[f"convs.{layer}.weight"][np.ix_(rows, cols)] += w
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()}, layers
