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
from ..edit.splice import SideCircuit, chosen_units, compact_side_circuit, patches_a_base, placed_units, side_circuit

SPEC_SUFFIXES = (".yaml", ".yml")


def open_circuit(path: Path, trained: Mapping[str, Tensor], arch: Architecture, named: Sequence[UnitAddress]) -> SideCircuit:
    """The circuit at `path` as a side circuit of the trained network (state `trained`, layout
    `arch`): a spec is compiled onto the trained weights (a clean-room spec, compact, from the
    image); a weights file of the same architecture is taken as it is. `named` picks the replaced
    units (default: the spec's units in its deepest layer; a file's units whose rows differ)."""
    path = Path(path)
    if path.suffix in SPEC_SUFFIXES:
        return _from_spec(path, trained, arch, named)
    return _from_weights(path, trained, arch, named)


def _from_spec(path: Path, trained: Mapping[str, Tensor], arch: Architecture, named: Sequence[UnitAddress]) -> SideCircuit:
    from ..compile import compile_spec
    from ..language import load_spec

    spec = load_spec(path)
    if not patches_a_base(spec):
        if arch.name != "inceptionv1":
            raise UserError(f"{path}: a clean-room circuit (no base:) is written in InceptionV1's layout; the weights are {arch.name}",
                            hint="measure a base patch written for this architecture (architecture:, base:, keep:)")
        build = compile_spec(spec, "compact")
        deepest = build.compact_layers[-1].name
        placed = {u.address: u.layer for u in build.units if u.address is not None}
        units = chosen_units(named, placed, arch, path.name)
        if units[0].layer != deepest:
            raise UserError(f"{path}: splice units from the circuit's deepest layer ({deepest}); {units[0].layer} units would cut its side "
                            "path short")
        return compact_side_circuit(path.name, units, build.model(), {u.address: u.channel for u in build.units if u.address}, deepest)
    if spec.architecture != arch.name:
        raise UserError(f"{path}: its units are {spec.architecture} units; the weights are {arch.name}",
                        hint="measure a circuit written for this architecture")
    build = compile_spec(spec, "inceptionv1", base=dict(trained))
    units = chosen_units(named, placed_units(spec, build), arch, path.name)
    return side_circuit(trained, build.state, arch, units, path.name)


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

