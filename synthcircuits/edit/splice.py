"""Circuits put into a trained network, exactly: `transplant` and `splice` edits.

Both give the named units the values the circuit computes for them and change nothing else
(`edit.replace`). The circuit is one of:
- a circuit spec with `base:` (or kept trained units, or another architecture than InceptionV1):
  compiled onto the network being edited, so its kept units are that network's;
- a clean-room spec (no base): compiled as a compact network that runs beside the model from
  the image (only `splice`);
- a weights file of the same architecture (`transplant: {weights: ...}`).
`transplant` copies weight rows where that is exact and otherwise runs the units on a side path,
saying why; `splice` always runs a side path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from ..errors import UserError
from ..layout.address import UnitAddress
from ..layout.architectures import Architecture
from ..layout.keys import conv_key, conv_row
from ..layout.topology import pre_activation_point
from ..models.compact import CompactNet
from ..models.spliced import SidePath, SplicedModel
from ..models.zoo import model_from_state_dict
from .replace import RowCopy, SidePlan, one_layer, plan_replacement, side_paths
from .spec import EditOp, edit_error
from .state import StateEditor


@dataclass(frozen=True)
class SideCircuit:
    """A circuit that runs beside the network: a state dict of the network's architecture, or a
    compact network, with the side paths its units take."""

    label: str
    circuit: Mapping[str, Tensor] | CompactNet
    paths: tuple[SidePath, ...]
    units: tuple[str, ...]
    why: str
    op_label: str = ""  # the edit operation that made it, for the log

    def describe(self) -> str:
        start = " and ".join(sorted({p.fork or "the image" for p in self.paths}))
        return f"{', '.join(self.units)} take {self.label}'s values on a side path from {start}: {self.why}"

    def module(self, architecture: str) -> nn.Module:
        if isinstance(self.circuit, CompactNet):
            return self.circuit
        return model_from_state_dict(dict(self.circuit), architecture, self.label)


def spliced_network(model: nn.Module, sides: Sequence[SideCircuit]) -> nn.Module:
    """`model` with every side circuit's units spliced in (the model itself when there are none)."""
    if not sides:
        return model
    return SplicedModel(model, [side.module(model.architecture.name) for side in sides], [side.paths for side in sides]).eval()


def replace_units(editor: StateEditor, op: EditOp, arch: Architecture, circuit: Mapping[str, Tensor], label: str) -> SideCircuit | None:
    """Give `op.units` the circuit's values: write their rows where that is exact (logged), else
    return the side circuit that carries them."""
    try:
        plan = plan_replacement(editor.result(), circuit, arch, op.units)
    except UserError as exc:  # about the units: said at the edit's line
        raise edit_error(op, exc.message, exc.hint) from None
    if isinstance(plan, RowCopy):
        for unit in op.units:
            key, row = conv_key(unit), conv_row(unit)
            for suffix in ("weight", "bias"):
                editor.write(op.label, f"{key}.{suffix}", (row,), circuit[f"{key}.{suffix}"][row], f"{unit} from {label}")
        return None
    return _side_circuit(plan, arch, circuit, label)


def side_circuit(base: Mapping[str, Tensor], circuit: Mapping[str, Tensor], arch: Architecture, units: Sequence[UnitAddress],
                 label: str) -> SideCircuit:
    """The units on a side path that computes them as `circuit` does (from where it first differs
    from `base`), whether or not a row copy would also be exact."""
    return _side_circuit(plan_replacement(base, circuit, arch, units), arch, circuit, label)


def _side_circuit(plan: RowCopy | SidePlan, arch: Architecture, circuit: Mapping[str, Tensor], label: str) -> SideCircuit:
    if isinstance(plan, RowCopy):
        fork = arch.layers[arch.index(plan.units[0].layer) - 1].name
        plan = SidePlan(plan.units, side_paths(plan.units, fork), "a splice runs beside the network")
    return SideCircuit(label, dict(circuit), plan.paths, tuple(map(str, plan.units)), plan.why)


def compact_side_circuit(label: str, units: Sequence[UnitAddress], circuit: CompactNet, records: Mapping[UnitAddress, int],
                         layer: str) -> SideCircuit:
    """A clean-room circuit's units (`records`: address -> the circuit's channel) from the image."""
    by_point: dict[str, list[UnitAddress]] = {}
    for unit in units:
        by_point.setdefault(pre_activation_point(unit), []).append(unit)
    paths = tuple(SidePath(layer, point, tuple(conv_row(u) for u in us), f"{layer}_pre_relu", tuple(records[u] for u in us), None)
                  for point, us in by_point.items())
    return SideCircuit(label, circuit, paths, tuple(map(str, units)), "a clean-room circuit computes its own lower layers")


def spec_side_circuit(path: Path, base: Mapping[str, Tensor], arch: Architecture, named: Sequence[UnitAddress]) -> SideCircuit:
    """A circuit spec as a side circuit of the network `base` (layout `arch`): a base patch compiled
    onto it, or a clean-room circuit compiled compact (InceptionV1 only, run from the image).
    `named` picks the units (default: those it places in its deepest layer); UserError otherwise."""
    from ..compile import compile_spec  # the compiler builds on the models floor, as edits do: imported when a spec is spliced
    from ..language import load_spec

    spec = load_spec(path)
    if patches_a_base(spec):
        if spec.architecture != arch.name:
            raise UserError(f"{path.name}: its units are {spec.architecture} units; the weights are {arch.name}",
                            hint="splice a circuit written for this architecture")
        build = compile_spec(spec, "inceptionv1", base=dict(base))
        units = chosen_units(named, placed_units(spec, build), arch, path.name)
        return side_circuit(base, build.state, arch, units, path.name)
    if arch.name != "inceptionv1":
        raise UserError(f"{path.name}: a clean-room circuit (no base:) is written in InceptionV1's layout; the weights are {arch.name}",
                        hint="splice a base patch (architecture:, base:, keep:) written for this architecture")
    build = compile_spec(spec, "compact")
    deepest = build.compact_layers[-1].name
    placed = {u.address: u.layer for u in build.units if u.address is not None}
    units = chosen_units(named, placed, arch, path.name)
    if units[0].layer != deepest:
        raise UserError(f"{path.name}: splice units from the circuit's deepest layer ({deepest}); {units[0].layer} units would cut "
                        "its side path short")
    return compact_side_circuit(path.name, units, build.model(), {u.address: u.channel for u in build.units if u.address}, deepest)


def patches_a_base(spec) -> bool:
    """Whether a circuit spec is written onto trained weights (base:, kept units, or a trained architecture)."""
    return spec.base is not None or spec.architecture != "inceptionv1" or any(f.keep for f in spec.families)


def placed_units(spec, build) -> dict[UnitAddress, str]:
    """The units a compiled circuit places at addresses of the network (kept trained units left
    out), with their layers."""
    kept = {f.name for f in spec.families if f.keep}
    return {u.address: u.layer for u in build.units if u.address is not None and u.family not in kept}


def chosen_units(named: Sequence[UnitAddress], placed: Mapping[UnitAddress, str], arch: Architecture, circuit: str) -> tuple[UnitAddress, ...]:
    """The units named, else those the circuit places in its deepest layer; each must be one the
    circuit places, all in one layer (UserError otherwise)."""
    deepest = max(placed.values(), key=arch.index) if placed else None
    wanted = tuple(named) or tuple(sorted(u for u, layer in placed.items() if layer == deepest))
    missing = [str(u) for u in wanted if u not in placed]
    if missing:
        raise UserError(f"{circuit} does not place {', '.join(missing)}", hint="name units the circuit spec pins")
    if not wanted:
        raise UserError(f"{circuit} places no units of the network", hint="a circuit that reimplements units pins them: units: [...]")
    one_layer(wanted, "a splice")
    return wanted
