"""Edit operations on traced networks (`torchvision:resnet50`, ...): a unit is a row of the
conv, and of the batch norm after it, that compute its channel.

Each op rewrites the *last* of those rows, so the addressed point takes the new value:
`ablate` outputs 0, `scale` multiplies by a factor (ReLU(f x) = f ReLU(x) for f >= 0),
`clamp` outputs a constant, `mean_ablate` outputs its mean over images (exact at the
conv or norm itself, and after a ReLU, since the mean there is >= 0), `transplant` copies
the rows from another weights file of the same architecture.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from ..layout.address import UnitAddress
from ..layout.architectures import Architecture, Layer
from .spec import EditOp, edit_error
from .state import StateEditor


def unit_rows(arch: Architecture, op: EditOp, unit: UnitAddress) -> Layer:
    layer = arch.layer(unit.layer)
    if not layer.affine:
        raise edit_error(op, f"{unit.layer} is a {layer.kind} node of {arch.name}: no one conv computes its channels",
                         "address a conv, the batch norm after it, or the activation after them")
    return layer


def _write_output(editor: StateEditor, op: EditOp, layer: Layer, channel: int, scale: float | None, constant: float, note: str) -> None:
    """Make the last affine row output scale * (its output) or, with scale None, a constant."""
    last = layer.affine[-1]
    weight, bias = f"{last}.weight", f"{last}.bias"
    if bias not in editor:
        if scale is None and constant != 0.0:
            raise edit_error(op, f"{last} has no bias, so {layer.name} cannot output a constant {constant:g}",
                             "ablate (0) or scale instead")
        editor.write(op.label, weight, (channel,), editor[weight][channel] * (scale or 0.0), note)
        return
    if scale is None:
        editor.write(op.label, weight, (channel,), 0.0, note)
        editor.write(op.label, bias, (channel,), constant, note)
    else:
        editor.write(op.label, weight, (channel,), editor[weight][channel] * scale, note)
        editor.write(op.label, bias, (channel,), editor[bias][channel] * scale, note)


def ablate(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    if op.mode == "outgoing":
        raise edit_error(op, f"outgoing ablation is defined for GoogLeNet layouts; {arch.name} units are ablated where they are computed",
                         "use mode: activation (the default)")
    for unit in op.units:
        _write_output(editor, op, unit_rows(arch, op, unit), unit.channel, None, 0.0, f"{unit} outputs 0")


def clamp(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    for unit in op.units:
        _write_output(editor, op, unit_rows(arch, op, unit), unit.channel, None, op.value, f"{unit} outputs {op.value:g}")


def scale(editor: StateEditor, op: EditOp, arch: Architecture) -> None:
    for unit in op.units:
        _write_output(editor, op, unit_rows(arch, op, unit), unit.channel, op.value, 0.0, f"{unit} x {op.value:g}")


def mean_ablate(editor: StateEditor, op: EditOp, arch: Architecture, means: Mapping[UnitAddress, float]) -> None:
    for unit in op.units:
        mean = means[unit]
        _write_output(editor, op, unit_rows(arch, op, unit), unit.channel, None, mean, f"{unit} outputs its mean {mean:.4g}")


def transplant(editor: StateEditor, op: EditOp, arch: Architecture, donor: Mapping[str, Tensor]) -> None:
    for unit in op.units:
        layer = unit_rows(arch, op, unit)
        for module in layer.affine:
            for suffix in ("weight", "bias", "running_mean", "running_var"):
                key = f"{module}.{suffix}"
                if key in editor:
                    editor.write(op.label, key, (unit.channel,), donor[key][unit.channel], f"{unit} from {op.path.name}")
