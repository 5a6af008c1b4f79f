"""Decompiling: from a trained network's units to a draft circuit spec that reproduces them.

The target units and the units of the layer feeding them are classified by their stimulus
tuning (`families`); the trained expanded weights from each input family to the targets are
fitted with the spec language's rules (`fit`); the result is written as a spec that patches the
trained weights (`draft`), and compiling it gives the round trip (`roundtrip`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from torch import nn

from ..errors import UserError
from ..layout.address import UnitAddress
from ..layout.keys import conv_key, conv_row
from ..layout.topology import feeding_layer
from ..models.expanded import expanded_layer_weights
from .families import MeasuredFamily, MeasuredUnit
from .fit import FittedRule, fit_rule
from .kinds import KINDS, TargetKind

__all__ = ["Decompilation", "decompile"]


@dataclass
class Decompilation:
    targets: MeasuredFamily
    input_layer: str
    inputs: list[MeasuredFamily]  # after fitting the bottleneck budget
    rules: list[FittedRule]  # one per input family
    biases: dict[UnitAddress, float]
    kernel_sizes: list[int]  # each target's own kernel
    dropped: list[MeasuredUnit] = field(default_factory=list)  # input units left out to fit the bottleneck
    outside: float = 0.0  # share of the targets' squared weights on units in no input family
    silent: list[UnitAddress] = field(default_factory=list)  # asked-for units with no preferred orientation, left out
    kind: TargetKind = KINDS["curves"]


def decompile(model: nn.Module, targets: Sequence[UnitAddress], input_layer: str | None = None,
              kind: TargetKind = KINDS["curves"]) -> Decompilation:
    arch = model.architecture
    if getattr(arch, "key_scheme", None) != "googlenet":
        raise UserError(f"decompiling reads expanded weights of GoogLeNet layouts (inceptionv1, bvlc_googlenet), not {arch.name}")
    layer = targets[0].layer
    if any(t.layer != layer for t in targets):
        raise UserError("the units to decompile must be in one layer", hint=f"e.g. --units {layer}:1,{layer}:2")
    feeder = feeding_layer(arch, layer)
    if feeder is None:
        raise UserError(f"{layer} reads pixels: there is no input layer to decompile it from")
    if input_layer is not None and input_layer != feeder.name:
        raise UserError(f"{input_layer} does not feed {layer}: its input layer is {feeder.name}",
                        hint=f"pass --inputs {feeder.name} (or leave it out)")
    pooled = [t for t in targets if t.branch == "pool_reduce"]
    if pooled:
        raise UserError(f"{pooled[0]} is in the pool branch, which reads a max pool; circuit specs place no units there",
                        hint="decompile units of the 1x1, 3x3 or 5x5 branches")
    measured = kind.measure(model, arch, targets)
    silent = [u.address for u in measured.units if not np.isfinite(u.orientation)]
    if silent:
        if len(silent) == len(targets):
            raise UserError(f"none of the units answers {kind.answers} (no preferred orientation): {', '.join(map(str, silent[:5]))}",
                            hint=f"--family names what the units are ({', '.join(KINDS)})")
        measured = replace(measured, units=tuple(u for u in measured.units if np.isfinite(u.orientation)))
        targets = [u.address for u in measured.units]
    state = model.state_dict()
    weights = expanded_layer_weights(state, arch, layer)[[t.channel for t in targets]].double().cpu().numpy()
    total = float((weights**2).sum())
    families = kind.inputs(model, arch, feeder.name, weights)
    if not families:
        raise UserError(f"no inputs for {kind.title} found in {feeder.name} to decompile {layer} from")
    families, dropped = _fit_bottleneck(arch, targets, families, weights)
    members = {u.address.channel for f in families for u in f.units} | {u.address.channel for u in dropped}
    outside = float(sum((weights[:, c] ** 2).sum() for c in range(weights.shape[1]) if c not in members)) / max(total, 1e-30)
    sizes = [arch.layer(t.layer).unit_kernel(t.branch) for t in targets]
    rules = [fit_rule(weights[:, [u.address.channel for u in f.units]], measured, sizes, f, total, kind.candidates) for f in families]
    biases = {t: float(state[f"{conv_key(t)}.bias"][conv_row(t)]) for t in targets}
    return Decompilation(measured, feeder.name, families, rules, biases, sizes, dropped, outside, silent, kind)


def _fit_bottleneck(arch, targets, families: list[MeasuredFamily], weights: np.ndarray) -> tuple[list[MeasuredFamily], list[MeasuredUnit]]:
    """Keep the input units that carry most of the targets' weight, as many as the narrowest
    bottleneck the targets read through has channels."""
    widths = [arch.layer(t.layer).branch(t.branch).bottleneck for t in targets if t.branch in ("3x3", "5x5")]
    units = [u for f in families for u in f.units]
    if not widths or len(units) <= min(widths):
        return families, []
    energy = {u.address.channel: float((weights[:, u.address.channel] ** 2).sum()) for u in units}
    kept = set(sorted(energy, key=lambda c: -energy[c])[: min(widths)])
    pruned = [replace(f, units=tuple(u for u in f.units if u.address.channel in kept)) for f in families]
    return [f for f in pruned if f.units], [u for u in units if u.address.channel not in kept]
