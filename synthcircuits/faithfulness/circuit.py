"""The circuit a faithfulness measurement splices in: a circuit spec or a weights file that
reimplements units of the trained network, as a side circuit (`edit.splice.SideCircuit`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..errors import UserError
from ..layout.address import UnitAddress, unit_at
from ..layout.architectures import Architecture
from ..layout.keys import conv_key, conv_row
from ..models.weights import read_weights
from ..models.zoo import weights_architecture
from ..edit.replace import differing_layers
from ..edit.splice import SideCircuit, side_circuit, spec_side_circuit
from ..opened import SPEC_SUFFIXES

def open_circuit(path: Path, trained: Mapping[str, Tensor], arch: Architecture, named: Sequence[UnitAddress]) -> SideCircuit:
    """The circuit at `path` as a side circuit of the trained network (state `trained`, layout
    `arch`): a spec is compiled onto the trained weights (a clean-room spec, compact, from the
    image); a weights file of the same architecture is taken as it is. `named` picks the replaced
    units (default: the spec's units in its deepest layer; a file's units whose rows differ)."""
    path = Path(path)
    if path.suffix in SPEC_SUFFIXES:
        return spec_side_circuit(path, trained, arch, named)
    return _from_weights(path, trained, arch, named)


def _from_weights(path: Path, trained: Mapping[str, Tensor], arch: Architecture, named: Sequence[UnitAddress]) -> SideCircuit:
    weights = read_weights(path)
    found = weights_architecture(weights)
    if found != arch.name:
        raise UserError(f"{path}: holds {found} weights; the trained network is {arch.name}",
                        hint="reimplement units of the same architecture")
    units = tuple(named) or changed_units(trained, weights.tensors, arch)
    if not units:
        raise UserError(f"{path}: its weights equal the trained network's; it replaces no unit", hint="name the units: --units ...")
    return side_circuit(trained, weights.tensors, arch, units, path.name)


def changed_units(trained: Mapping[str, Tensor], circuit: Mapping[str, Tensor], arch: Architecture) -> tuple[UnitAddress, ...]:
    """The units of the deepest layer whose tensors differ that have rows of their own differing."""
    layers = differing_layers(trained, circuit, arch, arch.layers[-1].name)
    for name in reversed(layers):
        layer = arch.layer(name)
        units = []
        for channel in range(layer.channels):
            unit = unit_at(name, channel, arch)
            key, row = conv_key(unit), conv_row(unit)
            if any(not torch.equal(trained[f"{key}.{part}"][row], circuit[f"{key}.{part}"][row]) for part in ("weight", "bias")):
                units.append(unit)
        if units:
            return tuple(units)
    return ()

