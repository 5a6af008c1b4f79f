"""A decompilation as circuit-spec YAML: the input families kept as trained (`keep: true` on a
`base:` of the same weights), the target units on their own channels with the fitted rules,
and `checks:` holding the rebuilt units to the trained units' measured tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from ..compile.claims import least_read_bottleneck_channels
from ..language.emit import comment, path_scalar, scalar
from ..layout.keys import conv_row
from . import Decompilation
from .families import MeasuredFamily
from .fit import lands

POOR_FIT = 0.5  # below this explained variance the draft says the language does not capture the pair
CHECK_WITHIN_DEG = 15.0


def family_name(kind: str, branch: str | None, prefix: str = "") -> str:
    return f"{prefix}{kind}_{branch}" if branch else f"{prefix}{kind}"


def draft_spec(result: Decompilation, model: nn.Module, base: Path, label: str, measured: MeasuredFamily | None = None) -> str:
    """`measured`: the trained units as first measured, where `result`'s orientations have been
    calibrated (the draft then says by how much)."""
    arch = model.architecture
    targets, kind = result.targets, result.kind
    layer = targets.units[0].address.layer
    lines = [
        "# Drafted by `synthcircuits decompile`: edit it, then `synthcircuits build` / `verify` it.",
        f"# {len(targets.units)} units of {layer} in {comment(label)} as {kind.title}, from {result.input_layer}.",
        "# Each input family's trained expanded weights onto the units were fitted with the spec language's rules:",
    ]
    for rule in result.rules:
        lines.append(f"#   {rule.source.label} ({rule.source.members}): {rule.pattern} "
                     f"r {rule.r:.3f}, explained variance {rule.explained:.1%}, {rule.energy:.1%} of the weight energy")
    poor = [rule.source.label for rule in result.rules if rule.explained < POOR_FIT]
    if poor:
        lines += [f"# The language does not capture these inputs' weights well (under {POOR_FIT:.0%} explained): {', '.join(poor)}.",
                  "# One weight profile per pattern, shared by every target, is what a rule says. Missing: a weight that",
                  "# varies with position inside the pattern (a table per position), or per-unit explicit connections."]
    lines.append(f"# Weight energy on {result.input_layer} units in no family (left out): {result.outside:.1%}.")
    if measured is not None:
        shifts = [abs((u.orientation - m.orientation + 180.0) % 360.0 - 180.0) for u, m in zip(targets.units, measured.units)]
        lines.append(f"# Orientations: the trained units' preferred ones, each moved (by up to {max(shifts):.1f} deg) so that its rebuilt")
        lines.append("# unit peaks where the trained one does.")
    if result.dropped:
        lines.append(f"# Left out to fit the bottleneck: {', '.join(str(u.address) for u in result.dropped)}.")
    biases = np.array(list(result.biases.values()))
    lines += [
        "synthcircuits: 1",
        f"name: {scalar(f'decompiled-{layer}')}",
        f"description: {scalar(f'{len(targets.units)} {layer} units of {label}, decompiled from {result.input_layer}')}",
        f"architecture: {scalar(arch.name)}",
        f"base: {path_scalar(base)}",
    ]
    claims = _claims(result, model)
    if claims:
        lines.append("# The fitted inputs reach the units through these bottleneck channels, those the branch's other units read least.")
        lines.append("bottleneck_channels: {" + ", ".join(f"{k}: [{', '.join(map(str, v))}]" for k, v in claims.items()) + "}")
    lines.append("families:")
    input_names = []
    for family in result.inputs:
        for branch, units in _by_branch(family).items():
            name = family_name(family.label, branch)
            input_names.append((name, family))
            lines += [
                f"  - name: {name}",
                f"    layer: {result.input_layer}",
                *([f"    branch: {branch}"] if branch in ("1x1", "3x3", "5x5") else []),
                "    keep: true",
                *(["    axis: hue"] if family.axis == "hue" else []),
                f"    period: {family.period}",
                f"    units: [{', '.join(str(u.address) for u in units)}]",
                f"    orientations: [{', '.join(f'{u.orientation:.1f}' for u in units)}]",
            ]
    target_names = []
    for branch, units in _by_branch(targets).items():
        name = family_name("unit", branch, "decompiled_")
        target_names.append(name)
        bias = float(np.mean([result.biases[u.address] for u in units]))
        kernel = arch.layer(layer).unit_kernel(branch)
        lines += [
            f"  - name: {name}",
            f"    layer: {layer}",
            *([f"    branch: {branch}"] if branch in ("1x1", "3x3", "5x5") else []),
            *(["    axis: hue"] if kind.axis == "hue" else []),
            "    period: 360",
            f"    units: [{', '.join(str(u.address) for u in units)}]",
            f"    orientations: [{', '.join(f'{u.orientation:.1f}' for u in units)}]",
            f"    bias: {bias:.6g}",
        ]
        if biases.std() > 0.05 * max(abs(biases.mean()), 1e-9):
            lines.append(f"    comment: trained biases {biases.min():.3g} to {biases.max():.3g}; one bias per family is what the language has")
        rules = []
        for source_name, family in input_names:
            rule = next(r for r in result.rules if r.source is family)
            for part in (p for p in rule.parts if lands(p, kernel)):
                # One source unit has no orientation to differ in: its whole table is a gain.
                weight = (f"gain: {part.table[0][1]:.6g}" if len(part.table) == 1 else
                          f"tuning: {{table: {{{', '.join(f'{a:g}: {w:.6g}' for a, w in part.table)}}}}}")
                rules += [
                    f"      - from: {source_name}",
                    f"        {part.words}",
                    f"        {weight}",
                    f"        comment: fitted, r {rule.r:.3f}, explained variance {rule.explained:.1%}",
                ]
        # A branch no fitted pattern reaches (a 1x1 unit read only by sides) keeps its bias alone.
        lines += ["    inputs:", *rules] if rules else ["    inputs: []"]
    peaks = [u.peak for u in targets.units]
    lines += [
        f"# The trained units' measured tuning: the rebuilt units should prefer the same {'hues' if kind.axis == 'hue' else 'orientations'}.",
        "checks:",
        "  - name: rebuilt like the trained units",
        f"    units: [{', '.join(target_names)}]",
        f"    stimulus: {kind.check}",
        f"    expect: {{preferred_orientation_within_deg: {CHECK_WITHIN_DEG:g}, peak_at_least: {0.1 * min(peaks):.6g}}}",
    ]
    return "\n".join(lines) + "\n"


def _by_branch(family: MeasuredFamily) -> dict[str | None, list]:
    groups: dict[str | None, list] = {}
    for unit in family.units:
        groups.setdefault(unit.address.branch, []).append(unit)
    return groups


def _claims(result: Decompilation, model: nn.Module) -> dict[str, list[int]]:
    """Per bottleneck branch holding targets: one channel per input unit."""
    count = sum(len(f.units) for f in result.inputs)
    claims = {}
    for branch, units in _by_branch(result.targets).items():
        if branch in ("3x3", "5x5"):
            layer = units[0].address.layer
            rows = [conv_row(u.address) for u in units]
            claims[f"{layer}_{branch}"] = least_read_bottleneck_channels(model.state_dict(), layer, branch, rows, count)
    return claims
