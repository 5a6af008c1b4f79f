"""What `decompile` can take apart: for each kind of target unit, the sweep that measures its
preferred orientation (or hue), the input families it is fitted from, and the rule shapes tried.

- curves: radial arcs; early-curve and line inputs; shapes along an arc or a line;
- high-low: fine texture beside flat grey, turned; the input units that weigh most on the
  targets, one family each; the two sides of the receptive field (a unit reads high frequency
  on one side and low on the other);
- colour-contrast: a hue beside its opposite; the input layer's hue-selective units as one hue
  family; the two sides of the receptive field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..errors import UserError
from ..layout.address import UnitAddress
from ..layout.architectures import Architecture
from ..probe.sweeps import BoundarySweep, HueSweep
from ..probe.tuning import ProbeUnit, RadialSweep, TuningCurve, radial_tuning
from .families import MeasuredFamily, MeasuredUnit, hue_inputs, measure_inputs, measure_targets, strongest_inputs
from .fit import PATH_CANDIDATES, SIDE_CANDIDATES, Candidate

# inputs(model, architecture, input layer, the targets' expanded weights) -> the families to fit
InputFinder = Callable[[nn.Module, Architecture, str, np.ndarray], list[MeasuredFamily]]


@dataclass(frozen=True)
class TargetKind:
    name: str  # as `decompile --family` takes it
    title: str  # in words, for messages and the draft's header
    sweep: object  # RadialSweep or a probe.sweeps TurningSweep: measures the targets
    check: str  # the draft's `checks:` stimulus for that sweep
    axis: str  # what the targets' copies turn in
    answers: str  # what a target must answer to be decompiled, for messages
    inputs: InputFinder
    candidates: tuple[Candidate, ...]
    census_family: str | None = None  # the census table's row that picks a layer's members (curves: `find`'s curve test)

    def tuning(self, model: nn.Module, probes: Sequence[ProbeUnit]) -> list[TuningCurve]:
        return radial_tuning(model, probes, self.sweep)

    def measure(self, model: nn.Module, arch: Architecture, units: Sequence[UnitAddress]) -> MeasuredFamily:
        """The targets as one family (period 360) at their measured preferred orientations or hues."""
        if self.name == "curves":
            return measure_targets(model, arch, units)
        curves = self.tuning(model, [ProbeUnit(str(u), u.layer, u.channel) for u in units])
        return MeasuredFamily(self.name, 360, tuple(MeasuredUnit(u, c.preferred(), c.peak, np.asarray(c.responses))
                                                    for u, c in zip(units, curves)), axis=self.axis)


def _curve_inputs(model, arch, layer, weights):
    return measure_inputs(model, arch, layer)


def _strongest(model, arch, layer, weights):
    return strongest_inputs(arch, layer, weights)


def _hues(model, arch, layer, weights):
    return hue_inputs(model, arch, layer)


KINDS: dict[str, TargetKind] = {
    "curves": TargetKind("curves", "curve detectors", RadialSweep(step=5.0), "radial_tuning", "orientation", "arcs",
                         _curve_inputs, PATH_CANDIDATES),
    "high-low": TargetKind("high-low", "high-low frequency detectors", BoundarySweep(step=5.0), "boundary_tuning", "orientation",
                           "a high-low frequency boundary", _strongest, SIDE_CANDIDATES, "high_low_frequency"),
    "colour-contrast": TargetKind("colour-contrast", "colour contrast units", HueSweep(step=5.0), "hue_tuning", "hue",
                                  "a colour contrast", _hues, SIDE_CANDIDATES, "colour_contrast"),
}
ALIASES = {"curve": "curves", "high_low_frequency": "high-low", "high-low-frequency": "high-low", "colour_contrast": "colour-contrast",
           "color-contrast": "colour-contrast"}


def target_kind(name: str) -> TargetKind:
    kind = KINDS.get(ALIASES.get(name, name))
    if kind is None:
        raise UserError(f"decompile takes apart {', '.join(KINDS)}, not {name!r}", hint=f"--family {' | '.join(KINDS)}")
    return kind
