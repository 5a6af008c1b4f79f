"""Edit operations on a state dict. Each writes through a `StateEditor`, which logs every element."""

from __future__ import annotations

from collections.abc import Callable, Mapping
import torch
from torch import Tensor

from ..layout.address import UnitAddress
from ..layout.keys import bottleneck_name, conv_key, conv_row
from ..layout.architectures import Architecture
from .spec import EditOp, edit_error
from .state import StateEditor
from ..layout.topology import readers


def set_incoming(editor: StateEditor, op: EditOp, unit: UnitAddress, weight: Callable[[Tensor], Tensor | float], bias: Callable[[Tensor], Tensor | float], note: str) -> None:
    key, row = conv_key(unit), conv_row(unit)
    editor.write(op.label, f"{key}.weight", (row,), weight(editor[f"{key}.weight"][row]), note)
    editor.write(op.label, f"{key}.bias", (row,), bias(editor[f"{key}.bias"][row]), note)


def ablate(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    for unit in op.units:
        if op.mode == "outgoing":
            for reader in readers(arch, unit):
                editor.write(op.label, reader.tensor, (slice(None), unit.channel), 0.0, f"weights reading {unit}")
        else:
            set_incoming(editor, op, unit, lambda w: 0.0, lambda b: 0.0, f"{unit} outputs 0")


def clamp(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    for unit in op.units:
        set_incoming(editor, op, unit, lambda w: 0.0, lambda b: op.value, f"{unit} outputs {op.value:g}")


def scale(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    for unit in op.units:  # ReLU(f x) = f ReLU(x) for f >= 0
        set_incoming(editor, op, unit, lambda w: w * op.value, lambda b: b * op.value, f"{unit} x {op.value:g}")


def scale_connection(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    """Multiply the weight of `source` on `target` by `op.value` (0 for ablate_connection).

    Into a 3x3/5x5 branch the source reaches the target only through the bottleneck, whose
    channels other inputs share. The target's kernel is then changed by the smallest amount
    (a projection onto the source's bottleneck pattern) that scales its expanded weight on
    the source; its other expanded weights move by what overlaps, reported in the log.
    """
    factor = op.value if op.kind == "scale_connection" else 0.0
    s, t = op.source, op.target
    key, row = f"{conv_key(t)}.weight", conv_row(t)
    w = editor[key][row]
    if t.branch not in ("3x3", "5x5"):
        editor.write(op.label, key, (row, s.channel), w[s.channel] * factor, f"weight of {s} on {t}")
        return
    bottleneck = editor[f"{bottleneck_name(t.layer, t.branch)}.weight"][:, :, 0, 0]
    pattern = bottleneck[:, s.channel]  # how the source enters each bottleneck channel
    energy = float(pattern @ pattern)
    if energy == 0.0:
        raise edit_error(op, f"{s} does not reach {t}: no channel of the {t.layer} {t.branch} bottleneck reads it")
    along = torch.einsum("bij,b->ij", w, pattern) / energy  # the expanded weight s -> t, per tap, over |pattern|^2
    new = w - (1.0 - factor) * along[None] * pattern[:, None, None]
    others = torch.einsum("bij,bc->cij", new - w, bottleneck)
    others[s.channel] = 0
    expanded = torch.einsum("bij,bc->cij", w, bottleneck)
    side = float(others.abs().max() / expanded.abs().max().clamp(min=1e-12))
    editor.write(op.label, key, (row,), new, f"projected through the {bottleneck.shape[0]}-channel bottleneck; "
                 f"{t}'s other expanded weights move by <= {side:.1%} of its largest")


def mean_ablate(editor: StateEditor, op: EditOp, arch: Architecture, means: Mapping[UnitAddress, float]) -> None:
    """Replace each unit by its mean activation: its readers' weights on it become 0 and
    their biases absorb weight x mean (max pools of a constant are that constant)."""
    for unit in op.units:
        mean = means[unit]
        for reader in readers(arch, unit):
            weight = editor[reader.tensor]
            column = weight[:, unit.channel]
            contribution = column.sum(dim=tuple(range(1, column.dim()))) * mean
            bias_key = reader.tensor.replace(".weight", ".bias")
            editor.write(op.label, bias_key, (slice(None),), editor[bias_key] + contribution, f"absorbs {unit} = {mean:.4g}")
            editor.write(op.label, reader.tensor, (slice(None), unit.channel), 0.0, f"weights reading {unit}")
