"""Circuit extraction: the smallest set of a unit's incoming edges that explains its activation,
written as a draft circuit spec that `build` and `verify` accept.

1. Rank the unit's inputs by edge attribution (expanded weight x input activation) averaged over
   a stimulus set: by default the radial arcs that drive the unit hardest, else an image folder.
2. Keep the top k, patch the rest to their means over the same stimuli (in the tensor the unit
   reads), and measure how much of the unit's activation survives:
   fidelity = 1 - mean |patched - clean| / mean |clean|. k is the smallest with fidelity >= the
   asked fraction (binary search; fidelity is checked again at the answer).
3. The draft: the kept inputs as a `keep: true` family on a `base:` of the same weights, the
   unit itself with its trained bias, and one `connections:` kernel per kept edge (its trained
   expanded weight). Compiling it rebuilds the unit from the kept edges alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UserError
from ..layout.address import UnitAddress
from ..compile.claims import least_read_bottleneck_channels
from ..layout.keys import conv_row
from ..models.capture import capture
from ..models.expanded import expanded_layer_weights
from ..probe.tuning import ProbeUnit, RadialSweep, TuningCurve, radial_tuning
from ..language.emit import comment, path_scalar, scalar
from .attribution import Target
from .edges import edge_attribution
from .interventions import Intervention, intervened
from .paths import input_point


@dataclass
class Extraction:
    target: UnitAddress
    position: tuple[int, int]
    ranked: list[tuple[UnitAddress, float]]  # every input, by |mean edge attribution|, largest first
    kept: list[UnitAddress]
    fidelity: float  # with only the kept edges (the rest at their means)
    fraction: float  # what was asked
    bias: float
    kernels: dict[UnitAddress, Tensor] = field(default_factory=dict)  # kept edge -> expanded weight (k x k)
    tried: list[tuple[int, float]] = field(default_factory=list)  # (edges kept, fidelity) evaluated
    stimuli: str = ""


def preferred_arcs(model: nn.Module, target: UnitAddress, count: int = 8,
                   sweep: RadialSweep = RadialSweep()) -> tuple[Tensor, list[float], TuningCurve]:
    """The `count` arcs of a 360-degree radial sweep (centred on the unit) that drive it hardest,
    their orientations, and the unit's tuning over the whole sweep."""
    curve = radial_tuning(model, [ProbeUnit(str(target), target.layer, target.channel)], sweep)[0]
    best = curve.angles[np.argsort(-curve.responses, kind="stable")[:count]]
    return sweep.render(target.layer, model.geometry())(torch.tensor(best, dtype=torch.float32)), best.tolist(), curve


def extract_circuit(model: nn.Module, images: Tensor, target: UnitAddress, fraction: float = 0.9,
                    position: tuple[int, int] | None = None, stimuli: str = "") -> Extraction:
    if not 0 < fraction <= 1:
        raise UserError(f"fraction {fraction} must be in (0, 1]")
    arch = model.architecture
    if position is None:
        position = Target(target.layer, target.channel).centred(model, images.shape[-1]).position
    edges = edge_attribution(model, images, target, position)
    mean = edges.values.double().mean(0)
    order = mean.abs().argsort(descending=True).tolist()
    ranked = [(edges.inputs[c], float(mean[c])) for c in order]
    reads = input_point(arch, target)
    with torch.no_grad():
        acts = capture(model, images, [reads])[reads]
        means = acts.double().mean((0, 2, 3)).float()
        clean = Target(target.layer, target.channel, position)(intervened(model, images, [], [target.layer])[target.layer])
    scale = float(clean.abs().mean())
    if scale == 0:
        raise UserError(f"{target} does not fire on these stimuli at {position}", hint="give images that excite it (--images)")
    tried: dict[int, float] = {}

    def fidelity(k: int) -> float:
        if k not in tried:
            rest = tuple(order[k:])
            change = [Intervention(reads, "mean", rest, value=means)] if rest else []
            with torch.no_grad():
                out = intervened(model, images, change, [target.layer])[target.layer]
            patched = Target(target.layer, target.channel, position)(out)
            tried[k] = 1.0 - float((patched - clean).abs().mean()) / scale
        return tried[k]

    low, high = 0, len(order)
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if fidelity(middle) >= fraction else (middle + 1, high)
    kept_channels = order[:low]
    weights = expanded_layer_weights(model.state_dict(), arch, target.layer)[target.channel]
    k = arch.layer(target.layer).unit_kernel(target.branch)
    pad = (weights.shape[-1] - k) // 2
    kernels = {edges.inputs[c]: weights[c, pad : pad + k, pad : pad + k].detach().clone() for c in kept_channels}
    return Extraction(target, position, ranked, [edges.inputs[c] for c in kept_channels], fidelity(low), fraction, edges.bias,
                      kernels, sorted(tried.items()), stimuli)


def draft_spec(extraction: Extraction, model: nn.Module, base: Path, weights_label: str, tuning: TuningCurve | None = None) -> str:
    """The extraction as circuit-spec YAML (see the module's doc). With the trained unit's arc
    `tuning`, the unit takes its measured preferred orientation and `checks:` hold the rebuilt
    unit to it (within 15 degrees, at least half the trained peak)."""
    t = extraction.target
    kept = extraction.kept
    preferred = tuning.preferred() if tuning is not None else float("nan")
    checked = tuning is not None and tuning.peak > 0 and np.isfinite(preferred)
    lines = [
        "# Drafted by `synthcircuits extract`: edit it, then `synthcircuits build` / `verify` it.",
        f"# {len(kept)} of {len(extraction.ranked)} inputs of {t} keep {extraction.fidelity:.1%} of its activation "
        f"(asked: {extraction.fraction:.0%}) at {list(extraction.position)} on {comment(extraction.stimuli or 'the given stimuli')},",
        "# the other inputs patched to their means. Each kernel is the trained expanded weight of that edge.",
        "synthcircuits: 1",
        f"name: {scalar(f'extracted-{t.layer}-{t.channel}')}",
        f"description: {scalar(f'the inputs of {t} in {weights_label} that explain its activation')}",
        "architecture: inceptionv1",
        f"base: {path_scalar(base)}",
    ]
    if t.branch in ("3x3", "5x5"):
        channels = least_read_bottleneck_channels(model.state_dict(), t.layer, t.branch, [conv_row(t)], len(kept))
        lines += [f"# The kept edges reach {t} through these bottleneck channels, the ones the branch's other units read least;",
                  "# those units lose what the channels carried for them.",
                  f"bottleneck_channels: {{{t.layer}_{t.branch}: [{', '.join(map(str, channels))}]}}"]
    lines.append("families:")
    by_branch: dict[str, list[UnitAddress]] = {}
    for unit in kept:  # a family lives in one branch
        by_branch.setdefault(unit.branch or "", []).append(unit)
    for branch, units in by_branch.items():
        lines += [
            f"  - name: kept_{branch or 'inputs'}",
            f"    layer: {units[0].layer}",
            *([f"    branch: {branch}"] if branch in ("1x1", "3x3", "5x5") else []),
            "    keep: true",
            f"    units: [{', '.join(str(u) for u in units)}]",
            f"    orientations: {len(units)}",
            "    comment: trained units, kept as they are; ranked by edge attribution, strongest first",
        ]
    lines += [
        "  - name: target",
        f"    layer: {t.layer}",
        *([f"    branch: {t.branch}"] if t.branch in ("1x1", "3x3", "5x5") else []),
        f"    units: [{t}]",
        *(["    period: 360", f"    orientations: [{preferred:.1f}]"] if checked else ["    orientations: 1"]),
        f"    bias: {extraction.bias:.6g}",
    ]
    if kept:
        lines.append("connections:")
        attribution = dict(extraction.ranked)
        for unit in kept:
            rows = ", ".join("[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in extraction.kernels[unit].tolist())
            lines.append(f"  - {{from: {unit}, to: {t}, kernel: [{rows}], comment: 'edge attribution {attribution[unit]:.4g}'}}")
    if checked:
        lines += [
            "# The trained unit's radial tuning (radius 32 px arcs): the rebuilt unit should keep it.",
            "checks:",
            "  - name: rebuilt like the trained unit",
            "    units: target",
            "    stimulus: radial_tuning",
            f"    expect: {{preferred_orientation_within_deg: 15, peak_at_least: {tuning.peak / 2:.6g}}}",
        ]
    return "\n".join(lines) + "\n"

