"""Unit addresses: one name for a neuron that every module understands.

`mixed3b:379`, the papers' shorthand `3b:379`, and the branch-local form `mixed3b_5x5:59`
all parse to the same `UnitAddress`, which knows its block, branch and local channel.
Traced networks name layers by module path (`layer4.2.conv3:511`, `features.28:12`).
An address is always parsed against the architecture of the model in hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AddressError
from .architectures import Architecture

_ADDRESS = re.compile(r"^\s*([A-Za-z0-9_.]+)\s*:\s*(-?\d+)\s*$")


@dataclass(frozen=True, order=True)
class UnitAddress:
    layer: str  # canonical layer name, e.g. "mixed3b"
    channel: int  # channel in the layer's full output
    branch: str | None = None  # "1x1" | "3x3" | "5x5" | "pool_reduce" for inception blocks
    local: int | None = None  # channel inside the branch's own conv output

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"


def parse_unit(text: str, architecture: Architecture) -> UnitAddress:
    """Parse `layer:channel` (or shorthand, or `layer_branch:local`) into a checked address."""
    match = _ADDRESS.match(str(text))
    if not match:
        raise AddressError(
            f"{text!r} is not a unit address",
            hint=f"write LAYER:CHANNEL, e.g. {_example(architecture)}",
        )
    layer_name, number = match.group(1), int(match.group(2))
    layer_name, branch_name = _split_branch(layer_name, architecture)
    if not architecture.has_layer(layer_name):
        raise AddressError(
            f"unknown layer {layer_name!r} in {text!r} for {architecture.name}",
            hint=_layer_hint(architecture),
        )
    layer = architecture.layer(layer_name)
    if branch_name is not None:
        branch = layer.branch(branch_name)
        if not 0 <= number < branch.width:
            raise AddressError(
                f"{text!r}: {layer.name} branch {branch_name} has {branch.width} channels "
                f"(0-{branch.width - 1}), not {number}"
            )
        number += branch.start
    if not 0 <= number < layer.channels:
        raise AddressError(
            f"{text!r}: {layer.name} has {layer.channels} channels (0-{layer.channels - 1}), "
            f"not {number}"
        )
    return unit_at(layer.name, number, architecture)


def unit_at(layer_name: str, channel: int, architecture: Architecture) -> UnitAddress:
    """The address of channel `channel` of an (already known-valid) layer."""
    layer = architecture.layer(layer_name)
    branch = layer.branch_of(channel)
    if branch is None:
        return UnitAddress(layer.name, channel)
    return UnitAddress(layer.name, channel, branch.name, channel - branch.start)


def parse_units(text: str, architecture: Architecture) -> list[UnitAddress]:
    """Parse a comma-separated list of unit addresses."""
    return [parse_unit(part, architecture) for part in text.split(",") if part.strip()]


def _split_branch(name: str, architecture: Architecture) -> tuple[str, str | None]:
    """`mixed3b_5x5` -> (`mixed3b`, `5x5`); any other name is returned unchanged."""
    for branch in ("pool_reduce", "1x1", "3x3", "5x5"):
        suffix = "_" + branch
        if name.endswith(suffix) and architecture.has_layer(name[: -len(suffix)]):
            base = architecture.layer(name[: -len(suffix)])
            if base.branches:
                return base.name, branch
    return name, None


def _example(architecture: Architecture) -> str:
    layer = next((l for l in architecture.unit_layers() if l.kind in ("block", "conv")), architecture.layers[0])
    return f"{layer.name}:{layer.channels - 1}"


def _layer_hint(architecture: Architecture) -> str:
    names = [layer.name for layer in architecture.unit_layers()]
    if len(names) <= 30:
        return "layers are: " + ", ".join(names)
    return (f"layers include: {', '.join(names[:12])}, ... ({len(names)} in all; "
            f"`synthcircuits layers --arch {architecture.name}` lists them)")
