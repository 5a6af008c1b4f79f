"""Running a network stage by stage, stopping after the deepest layer anyone asked for.

A model that supports capture lists its stages in forward order; each stage is a function
`(tensor, tap) -> tensor`. `tap` keeps references to the named points that were asked for
(no copies, no hooks), and stages compute optional extras (pre-ReLU concatenations) only
when `tap.wants` them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor


class Tap:
    """Collects the activations named in `wanted` as a stage runs; also carries the ReLU the
    run uses (feature visualisation swaps in one that lets some gradient through) and, for a
    run that only needs one unit's cone, the range to keep of each stage's output (`crops`:
    stage -> (first, last) index, rows and columns alike)."""

    def __init__(self, wanted: Collection[str], relu: Callable[[Tensor], Tensor] = F.relu,
                 crops: Mapping[str, tuple[int, int]] | None = None):
        self.wanted = frozenset(wanted)
        self.values: dict[str, Tensor] = {}
        self.relu = relu
        self.crops = dict(crops or {})

    def cropped(self, name: str, value: Tensor) -> Tensor:
        if name not in self.crops:
            return value
        first, last = self.crops[name]
        return value[..., first : last + 1, first : last + 1]

    def wants(self, name: str) -> bool:
        return name in self.wanted

    def __call__(self, name: str, value: Tensor) -> Tensor:
        if name in self.wanted:
            self.values[name] = value
        return value


NO_TAP = Tap(())

Stage = Callable[[Tensor, Tap], Tensor]


class StagedModel(Protocol):
    def preprocess(self, x: Tensor) -> Tensor: ...

    def stages(self) -> Sequence[tuple[str, Stage]]: ...

    def hook_points(self) -> dict[str, str]: ...


def run_stages(model: StagedModel, x: Tensor, tap: Tap, last_stage: str | None = None) -> Tensor:
    """Preprocess `x` and run the stages in order, stopping after `last_stage` if given."""
    h = model.preprocess(x)
    for name, stage in model.stages():
        h = tap(name, tap.cropped(name, stage(h, tap)))
        if name == last_stage:
            break
    return h


def run_stages_from(model: StagedModel, h: Tensor, after: str, tap: Tap, last_stage: str) -> Tensor:
    """Run the stages that follow `after` on `h` (that stage's output), up to `last_stage`."""
    started = False
    for name, stage in model.stages():
        if started:
            h = tap(name, tap.cropped(name, stage(h, tap)))
            if name == last_stage:
                return h
        started = started or name == after
    raise ValueError(f"no stage {last_stage!r} after {after!r}")


def relu_with_taps(name: str, pre: Tensor, tap: Tap) -> Tensor:
    """ReLU that offers both the pre-activation (`NAME_pre_relu`) and the output to the tap
    (an intervening tap may hand back a changed pre-activation, which the ReLU then reads)."""
    return tap.relu(tap(f"{name}_pre_relu", pre))


def inception_block(
    name: str,
    x: Tensor,
    tap: Tap,
    conv: Callable[[str, Tensor], Tensor],
    pool: Callable[[Tensor], Tensor],
) -> Tensor:
    """The four-branch inception block shared by every GoogLeNet variant.

    `conv(part, input)` returns the pre-activation of one of the block's convolutions
    (`1x1`, `3x3_bottleneck`, `3x3`, `5x5_bottleneck`, `5x5`, `pool_reduce`).
    """
    pres: list[Tensor] = []

    def branch_output(part: str, inp: Tensor) -> Tensor:
        pre = tap(f"{name}_{part}_pre_relu", conv(part, inp))  # a splicing or intervening tap may hand back new values
        if part in ("1x1", "3x3", "5x5", "pool_reduce"):
            pres.append(pre)
        return tap(f"{name}_{part}", tap.relu(pre))

    b1 = branch_output("1x1", x)
    b3 = branch_output("3x3", branch_output("3x3_bottleneck", x))
    b5 = branch_output("5x5", branch_output("5x5_bottleneck", x))
    bp = branch_output("pool_reduce", tap(f"{name}_pool", pool(x)))
    if tap.wants(f"{name}_pre_relu"):
        tap(f"{name}_pre_relu", torch.cat(pres, 1))
    return torch.cat([b1, b3, b5, bp], 1)


def block_hook_points(name: str) -> dict[str, str]:
    """Hook-point names inside an inception block, each mapped to the block's stage."""
    parts = ("1x1", "3x3_bottleneck", "3x3", "5x5_bottleneck", "5x5", "pool_reduce")
    points = {f"{name}_pool": name, f"{name}_pre_relu": name}
    for part in parts:
        points[f"{name}_{part}"] = name
        points[f"{name}_{part}_pre_relu"] = name
    return points
