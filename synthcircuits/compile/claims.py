"""Which bottleneck channels a patch may claim: those the branch's other units read least."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ..errors import UserError
from ..layout.keys import conv_name


def least_read_bottleneck_channels(state: Mapping[str, Tensor], layer: str, branch: str, own_rows: Sequence[int], count: int) -> list[int]:
    """`count` channels of `layer`'s `branch` bottleneck, those the branch's units other than
    `own_rows` read least (summed |weight|), in ascending order."""
    w = state[f"{conv_name(layer, branch)}.weight"]
    others = torch.ones(w.shape[0], dtype=torch.bool)
    others[list(own_rows)] = False
    use = w[others].abs().sum((0, 2, 3))
    if count > len(use):
        raise UserError(f"{count} inputs do not fit {layer}'s {branch} bottleneck of {len(use)} channels",
                        hint="read from fewer input units")
    return sorted(use.argsort()[:count].tolist())
