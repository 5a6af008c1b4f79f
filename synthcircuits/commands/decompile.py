"""`synthcircuits decompile`: a trained network's units as a draft circuit spec that
reproduces them, with the fits and the round trip."""

from __future__ import annotations

from pathlib import Path

from ..decompile import decompile
from ..decompile.draft import draft_spec
from ..decompile.kinds import TargetKind, target_kind
from ..decompile.roundtrip import calibrated, round_trip, write_report
from ..errors import UserError
from ..layout.address import unit_at
from ..outputs import atomic_target
from ..probe.classify import classify_layer
from ..probe.tuning import ProbeUnit, RadialSweep
from ..language import parse_spec
from ..tables import format_table
from .common import open_model
from ..jsontext import strict_json

DEFAULT_TARGETS = 10
CALIBRATIONS = 1  # orientation corrections after the first round trip


def run_decompile(weights: Path, architecture: str | None, units_text: str, inputs: str | None, output: Path, report: Path | None,
                  vis_steps: int, device: str, family: str = "curves") -> int:
    kind = target_kind(family)
    if output.with_suffix(".json") == output or (report is not None and report.resolve() == output.resolve()):
        raise UserError(f"-o {output}: the draft's fits are written beside it as {output.with_suffix('.json').name}, so the two would "
                        "share one path", hint="name the draft with .yaml, e.g. -o draft.yaml")
    source = open_model(weights, device, architecture)
    if source.compact or source.file is None:
        raise UserError(f"{weights}: decompile reads a weights file of a GoogLeNet layout (a compiled spec: build it first)")
    targets = target_units(source, units_text, kind)
    result = decompile(source.model, targets, inputs, kind)
    base = Path(weights).resolve()
    measured = result
    text = draft_spec(result, source.model, base, source.label)
    spec = parse_spec(text, str(output))  # the draft must be a spec the tools accept
    trip = round_trip(result, source.model, spec)
    for _ in range(CALIBRATIONS):
        result = calibrated(result, trip)
        text = draft_spec(result, source.model, base, source.label, measured.targets)
        spec = parse_spec(text, str(output))
        trip = round_trip(result, source.model, spec)
    print(f"{len(result.targets.units)} units of {targets[0].layer} as {kind.title}, from {result.input_layer} ({source.label}):\n")
    if result.silent:
        print(f"left out, no preferred orientation (they do not answer {kind.answers}): {', '.join(map(str, result.silent))}\n")
    print(format_table(["input family", "units", "rule", "r", "explained", "weight energy"],
                       [[r.source.label, r.source.members, r.pattern, r.r, r.explained, r.energy] for r in result.rules]))
    difference = "hue" if kind.axis == "hue" else "orientation"
    for r in result.rules:
        for p in r.parts:
            weights_text = (f"gain {p.table[0][1]:.3g}" if len(p.table) == 1 else
                            f"weight by {difference} difference: " + ", ".join(f"{a:g}: {w:.3g}" for a, w in p.table))
            print(f"\n{r.source.label} -> units, {p.words}, {weights_text}")
    print("\nround trip (the draft compiled, against the trained units):\n")
    print(trip.table())
    with atomic_target(output) as tmp:
        tmp.write_text(text)
    summary = output.with_suffix(".json")
    with atomic_target(summary) as tmp:
        tmp.write_text(strict_json({"weights": source.label, "layer": targets[0].layer, "inputs": result.input_layer, "family": kind.name,
                                   "rules": [{"family": r.source.label, "kind": r.source.kind, "units": [str(u.address) for u in r.source.units],
                                              "parts": [{"spatial": p.spatial, "params": p.params, "table": p.table} for p in r.parts],
                                              "r": r.r, "explained": r.explained, "energy": r.energy} for r in result.rules],
                                   "outside_energy": result.outside, "dropped": [str(u.address) for u in result.dropped],
                                   "round_trip": trip.as_json()}, indent=1))
    print(f"\nsaved {output} and {summary}")
    if report is not None:
        print(f"saved {write_report(trip, result, source.model, report, vis_steps)}")
    return 0


def target_units(source, text: str, kind: TargetKind):
    """Addresses, or a layer name: its strongest members of the kind (by `find`'s test), outside the pool branch."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) == 1 and ":" not in parts[0]:
        arch = source.architecture
        if not arch.has_layer(parts[0]):
            raise UserError(f"{source.label} ({arch.name}) has no layer {parts[0]!r}",
                            hint=f"`synthcircuits layers --arch {arch.name}` lists them")
        layer = arch.layer(parts[0])
        members = _members(source, layer, kind)[:DEFAULT_TARGETS]
        if not members:
            raise UserError(f"{layer.name} has no {kind.title} by `find`'s test", hint="name the units: --units LAYER:C,...")
        return [source.parse_unit(name) for name in members]
    units = [source.parse_unit(p) for p in parts]
    if not units:
        raise UserError("--units names no units", hint="e.g. --units mixed3b:379,mixed3b:385 or --units mixed3b")
    return units


def _members(source, layer, kind: TargetKind) -> list[str]:
    """The layer's members of the kind, strongest first (`find`'s order)."""
    channels = [c for c in range(layer.channels) if unit_at(layer.name, c, source.architecture).branch != "pool_reduce"]
    if kind.census_family is None:
        units = [ProbeUnit(f"{layer.name}:{c}", layer.name, c) for c in channels]
        return [r.unit for r in classify_layer(source.model, units, [None] * len(units), "curves", RadialSweep(step=10.0)) if r.member]
    from ..census.layer import census_layer

    names = [f"{layer.name}:{c}" for c in channels]
    census = census_layer(source.model, source.geometry(), layer.name, channels, names, [None] * len(channels), progress=True)
    return [u.unit for u in census.members(kind.census_family)]
