"""Run-time interventions: change named activations during one forward, with no hooks left behind.

Staged networks pass a per-run `Tap` through every stage; an `InterveningTap` rewrites the
value at a hook point as it passes, and everything downstream reads the rewritten value.
Traced networks (ResNets, VGG, ...) do the same through an interpreter of their graph.
Nothing is registered on the model, so the next run is untouched.

    from synthcircuits.causal import Intervention, run_with_interventions
    acts = run_with_interventions(model, images, [Intervention("mixed3b", "zero", channels=(379,))], ["softmax2"])
    patched = run_with_interventions(model, b, [Intervention.patch("mixed3a", source=a_acts["mixed3a"])], ["mixed3b"])
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..models.capture import check_names, deepest_stage
from ..models.staged import Tap, run_stages

OPERATIONS = ("zero", "mean", "scale", "clamp", "set", "patch")


@dataclass(frozen=True, eq=False)
class Intervention:
    """At hook point `point`, on `channels` (None: all) and `positions` ((y, x) pairs; None:
    all): `zero` them, replace them by `value` (`set`: a number; `mean`: per-channel means,
    shape (C,) over the layer's channels; `patch`: the same point's activations on another
    input, the layer's full shape), multiply them by `value` (`scale`), or cap them at `value`
    (`clamp`)."""

    point: str
    operation: str
    channels: tuple[int, ...] | None = None
    positions: tuple[tuple[int, int], ...] | None = None
    value: float | Tensor | None = None

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise UserError(f"unknown intervention {self.operation!r}", hint=f"one of: {', '.join(OPERATIONS)}")
        if self.operation in ("scale", "clamp", "set", "mean", "patch") and self.value is None:
            raise UserError(f"a {self.operation} intervention on {self.point} needs a value")

    @classmethod
    def patch(cls, point: str, source: Tensor, channels=None, positions=None) -> Intervention:
        return cls(point, "patch", _tuple(channels), _positions(positions), source)

    def apply(self, value: Tensor) -> Tensor:
        """`value` with this intervention applied (a new tensor; the original is left alone)."""
        mask = self._mask(value)
        if self.operation == "zero":
            replacement = torch.zeros_like(value)
        elif self.operation == "scale":
            replacement = value * float(self.value)
        elif self.operation == "clamp":
            replacement = value.clamp(max=float(self.value))
        elif self.operation == "set":
            replacement = torch.full_like(value, float(self.value))
        elif self.operation == "mean":
            means = torch.as_tensor(self.value, dtype=value.dtype, device=value.device)
            if means.shape != (value.shape[1],):
                raise UserError(f"mean of {self.point}: {tuple(means.shape)} values for {value.shape[1]} channels")
            replacement = means.view(1, -1, *([1] * (value.dim() - 2))).expand_as(value)
        else:
            source = torch.as_tensor(self.value).to(value)
            if source.shape[1:] != value.shape[1:] or source.shape[0] not in (1, value.shape[0]):
                raise UserError(f"patch of {self.point}: the source has shape {list(source.shape)}, the run {list(value.shape)}",
                                hint="capture the source at the same point with images of the same size")
            replacement = source.expand_as(value)
        return torch.where(mask, replacement, value)

    def _mask(self, value: Tensor) -> Tensor:
        mask = torch.ones(value.shape[1:], dtype=torch.bool, device=value.device)
        if self.channels is not None:
            wanted = torch.zeros(value.shape[1], dtype=torch.bool, device=value.device)
            bad = [c for c in self.channels if not 0 <= c < value.shape[1]]
            if bad:
                raise UserError(f"{self.point} has {value.shape[1]} channels; no channel {bad[0]}")
            wanted[list(self.channels)] = True
            mask &= wanted.view(-1, *([1] * (value.dim() - 2)))
        if self.positions is not None:
            if value.dim() != 4:
                raise UserError(f"{self.point} has no positions (its activations are {value.dim() - 1}-D per image)")
            where = torch.zeros(value.shape[-2:], dtype=torch.bool, device=value.device)
            for y, x in self.positions:
                if not (0 <= y < value.shape[-2] and 0 <= x < value.shape[-1]):
                    raise UserError(f"{self.point} is {value.shape[-2]}x{value.shape[-1]}; no position ({y}, {x})")
                where[y, x] = True
            mask &= where
        return mask.unsqueeze(0)


class InterveningTap(Tap):
    """A tap that rewrites the named points as they pass (and still records what is wanted)."""

    def __init__(self, wanted: Collection[str], interventions: Sequence[Intervention], relu=F.relu):
        super().__init__(wanted, relu)
        self.interventions: dict[str, list[Intervention]] = {}
        for intervention in interventions:
            self.interventions.setdefault(intervention.point, []).append(intervention)

    def __call__(self, name: str, value: Tensor) -> Tensor:
        for intervention in self.interventions.get(name, ()):
            value = intervention.apply(value)
        return super().__call__(name, value)


def run_with_interventions(model: nn.Module, images: Tensor, interventions: Sequence[Intervention],
                           capture: Sequence[str]) -> dict[str, Tensor]:
    """The `capture` points of `images` with `interventions` applied on the way (no gradients)."""
    check_points(model, [i.point for i in interventions] + list(capture))
    device = next(model.parameters()).device
    with torch.no_grad():
        return intervened(model, images.to(device), interventions, capture)


def check_points(model: nn.Module, points: Sequence[str]) -> None:
    """Every point is one of the model's hook points and something reads it."""
    check_names(model, points)
    if hasattr(model, "run_tapped"):
        return
    points_of = model.hook_points()
    blocks = [p for p in points if p.endswith("_pre_relu") and p.replace("_pre_relu", "_1x1") in points_of]
    if blocks:
        raise UserError(f"{blocks[0]} is a concatenation made for reading; it feeds nothing",
                        hint="intervene on a branch instead, e.g. " + blocks[0].replace("_pre_relu", "_5x5_pre_relu"))


def intervened(model: nn.Module, images: Tensor, interventions: Sequence[Intervention], wanted: Sequence[str]) -> dict[str, Tensor]:
    """One forward of `images` (already on the model's device), as far as `wanted` and the
    interventions need, with the interventions applied; gradients as the caller has them on.
    Staged networks rewrite through their tap, traced ones through an interpreter of their graph."""
    names = list(dict.fromkeys(wanted))
    if hasattr(model, "run_tapped"):
        by_point: dict[str, list[Intervention]] = {}
        for intervention in interventions:
            by_point.setdefault(intervention.point, []).append(intervention)
        return model.run_tapped(images, names, rewrite={point: partial(_apply_all, changes) for point, changes in by_point.items()})
    tap = InterveningTap(names, interventions)
    run_stages(model, images, tap, deepest_stage(model, names + [i.point for i in interventions]))
    return {name: tap.values[name] for name in names}


def _apply_all(interventions: Sequence[Intervention], value: Tensor) -> Tensor:
    for intervention in interventions:
        value = intervention.apply(value)
    return value


def _tuple(channels) -> tuple[int, ...] | None:
    return None if channels is None else tuple(int(c) for c in channels)


def _positions(positions) -> tuple[tuple[int, int], ...] | None:
    return None if positions is None else tuple((int(y), int(x)) for y, x in positions)
