"""Exact replacement: a circuit's units go into a network so that they take the circuit's values
and nothing else in the network changes.

The circuit is a whole network of the same architecture (a spec compiled on the network as its
base, or another weights file). Copying a unit's weight row is exact only when that row reads,
in the network, the values it reads in the circuit: every layer below the unit's is the
network's, and the bottleneck channels the row reads (if its branch has a bottleneck) are the
network's. Otherwise the units run on a side path (`models.spliced`), which starts where the
circuit first differs from the network, so channels other units read are never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import UserError
from ..layout.address import UnitAddress
from ..layout.architectures import Architecture
from ..layout.keys import bottleneck_name, conv_key, conv_row
from ..layout.topology import layer_convs, pre_activation_point
from ..models.spliced import SidePath


@dataclass(frozen=True)
class RowCopy:
    """The units' own rows can be copied: their inputs are the network's."""

    units: tuple[UnitAddress, ...]


@dataclass(frozen=True)
class SidePlan:
    """The units need a side path; `why` says what in the circuit differs from the network."""

    units: tuple[UnitAddress, ...]
    paths: tuple[SidePath, ...]  # one per pre-activation point the units live in
    why: str


def one_layer(units: Sequence[UnitAddress], what: str = "a replacement") -> str:
    layers = sorted({u.layer for u in units})
    if len(layers) != 1:
        raise UserError(f"{what} replaces units of one layer; these span {', '.join(layers)}",
                        hint="replace each layer's units in an edit of its own")
    return layers[0]


def differing_layers(base: Mapping[str, Tensor], circuit: Mapping[str, Tensor], arch: Architecture, through: str) -> list[str]:
    """The layers up to and including `through` whose tensors differ between the two networks."""
    found = []
    for layer in arch.layers[: arch.index(through) + 1]:
        keys = [f"{prefix}.{part}" for prefix in layer_convs(arch, layer) for part in ("weight", "bias")]
        if any(not torch.equal(base[k], circuit[k]) for k in keys):
            found.append(layer.name)
    return found


def changed_bottleneck_channels(base: Mapping[str, Tensor], circuit: Mapping[str, Tensor], unit: UnitAddress) -> list[int]:
    """The bottleneck channels the circuit's row for `unit` reads (any non-zero weight) whose
    weights or bias differ from the network's."""
    if unit.branch not in ("3x3", "5x5"):
        return []
    row = circuit[f"{conv_key(unit)}.weight"][conv_row(unit)]
    read = row.abs().sum((1, 2)) > 0
    prefix = bottleneck_name(unit.layer, unit.branch)
    w0, w1 = base[f"{prefix}.weight"], circuit[f"{prefix}.weight"]
    b0, b1 = base[f"{prefix}.bias"], circuit[f"{prefix}.bias"]
    differs = (w0 != w1).flatten(1).any(1) | (b0 != b1)
    return (read & differs).nonzero().flatten().tolist()


def plan_replacement(base: Mapping[str, Tensor], circuit: Mapping[str, Tensor], arch: Architecture,
                     units: Sequence[UnitAddress]) -> RowCopy | SidePlan:
    """How `units` take the circuit's values in the network, exactly."""
    layer = one_layer(units)
    below = [name for name in differing_layers(base, circuit, arch, layer) if name != layer]
    if below:
        first = arch.index(below[0])
        fork = arch.layers[first - 1].name if first > 0 else None
        return SidePlan(tuple(units), side_paths(units, fork),
                        f"the circuit differs from the network from {below[0]} on, below {layer}")
    carried = {u: changed_bottleneck_channels(base, circuit, u) for u in units}
    carried = {u: c for u, c in carried.items() if c}
    if not carried:
        return RowCopy(tuple(units))
    fork = arch.layers[arch.index(layer) - 1].name
    branches = sorted({(u.layer, u.branch) for u in carried})
    channels = sorted({c for found in carried.values() for c in found})
    words = ", ".join(f"{layer} {branch}" for layer, branch in branches)
    return SidePlan(tuple(units), side_paths(units, fork),
                    f"they read {words} bottleneck channel(s) {_ranges(channels)}, which the circuit sets otherwise than the network")


def side_paths(units: Sequence[UnitAddress], fork: str | None) -> tuple[SidePath, ...]:
    """One side path per pre-activation point, the circuit's units at the same places."""
    by_point: dict[str, list[UnitAddress]] = {}
    for u in units:
        by_point.setdefault(pre_activation_point(u), []).append(u)
    return tuple(SidePath(us[0].layer, point, tuple(conv_row(u) for u in us), point, tuple(conv_row(u) for u in us), fork)
                 for point, us in by_point.items())


def _ranges(channels: Sequence[int]) -> str:
    """3, 5-9, 12: a channel list in few characters."""
    parts, start = [], None
    for i, c in enumerate(channels):
        if start is None:
            start = c
        if i + 1 == len(channels) or channels[i + 1] != c + 1:
            parts.append(str(start) if start == c else f"{start}-{c}")
            start = None
    return ", ".join(parts)
