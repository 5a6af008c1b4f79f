"""Tensor names: which weight tensor computes a unit, in each key scheme.

GoogLeNet layouts use Lucent's names (`mixed3b_5x5_pre_relu_conv.weight`); traced networks
use their module paths (`layer4.2.conv3.weight`). Nothing else spells a key.
"""

from __future__ import annotations

from .address import UnitAddress


def conv_name(layer: str, branch: str | None = None) -> str:
    """Key prefix of the conv computing a layer (or one branch of an inception block)."""
    return f"{layer}_{branch}_pre_relu_conv" if branch else f"{layer}_pre_relu_conv"


def bottleneck_name(layer: str, branch: str) -> str:
    """Key prefix of the 1x1 bottleneck in front of a 3x3/5x5 branch."""
    return f"{layer}_{branch}_bottleneck_pre_relu_conv"


def conv_key(unit: UnitAddress) -> str:
    """Key prefix of the conv whose output row is this unit, e.g. `mixed3b_5x5_pre_relu_conv`."""
    return conv_name(unit.layer, unit.branch)


def conv_row(unit: UnitAddress) -> int:
    """The unit's row in that conv's weight (its channel within the branch)."""
    return unit.local if unit.branch is not None else unit.channel
