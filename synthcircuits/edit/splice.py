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
    circuits, paths = [], []
    for side in sides:
        module = side.module(model.architecture.name)
        for path in side.paths:
            circuits.append(module)
            paths.append(path)
    return SplicedModel(model, circuits, paths).eval()


def replace_units(editor: StateEditor, op: EditOp, arch: Architecture, circuit: Mapping[str, Tensor], label: str,
                  side_path_only: bool = False) -> SideCircuit | None:
    """Give `op.units` the circuit's values: write their rows where that is exact (logged), else
    return the side circuit that carries them."""
    try:
        plan = plan_replacement(editor.result(), circuit, arch, op.units)
    except UserError as exc:  # about the units: said at the edit's line
        raise edit_error(op, exc.message, exc.hint) from None
    if isinstance(plan, RowCopy) and not side_path_only:
        for unit in op.units:
            key, row = conv_key(unit), conv_row(unit)
            for suffix in ("weight", "bias"):
                editor.write(op.label, f"{key}.{suffix}", (row,), circuit[f"{key}.{suffix}"][row], f"{unit} from {label}")
        return None
    if isinstance(plan, RowCopy):
        fork = arch.layers[arch.index(op.units[0].layer) - 1].name
        plan = SidePlan(plan.units, side_paths(op.units, fork), "a splice runs beside the network")
    return SideCircuit(label, dict(circuit), plan.paths, tuple(map(str, op.units)), plan.why)


def compact_side_circuit(op: EditOp, circuit: CompactNet, records: Mapping[UnitAddress, int], layer: str) -> SideCircuit:
    """A clean-room circuit's units (`records`: address -> the circuit's channel) from the image."""
    by_point: dict[str, list[UnitAddress]] = {}
    for unit in op.units:
        by_point.setdefault(pre_activation_point(unit), []).append(unit)
    paths = tuple(SidePath(layer, point, tuple(conv_row(u) for u in units), f"{layer}_pre_relu", tuple(records[u] for u in units), None)
                  for point, units in by_point.items())
    return SideCircuit(Path(op.path).name, circuit, paths, tuple(map(str, op.units)),
                       "a clean-room circuit computes its own lower layers")


def spec_units(op: EditOp, placed: Mapping[UnitAddress, str], deepest: str) -> tuple[UnitAddress, ...]:
    """The units a splice or transplant names, else those the circuit pins in its deepest layer;
    each must be one the circuit places."""
    wanted = op.units or tuple(sorted(u for u, layer in placed.items() if layer == deepest))
    missing = [str(u) for u in wanted if u not in placed]
    if missing:
        raise edit_error(op, f"{Path(op.path).name} does not place {', '.join(missing)}", "name units the circuit spec pins")
    if not wanted:
        raise edit_error(op, f"{Path(op.path).name} pins no units in its deepest layer", "name the units: units: [...]")
    try:
        one_layer(wanted, "a splice")
    except UserError as exc:
        raise edit_error(op, exc.message, exc.hint) from None
    return tuple(wanted)
