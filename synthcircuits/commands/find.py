"""`synthcircuits find LAYER`: classify every unit of a layer by synthetic stimuli, rank them,
and write a table, JSON and a contact sheet of the members' tuning curves (and, with
`--vis-steps`, of their feature visualisations, optimised as one batch)."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..layout.address import unit_at
from ..folder_lock import locked_folder
from ..layout.architectures import Layer
from ..opened import OpenedModel
from ..outputs import atomic_target, make_folders
from ..probe.classify import FAMILIES, UnitClass, classify_layer
from ..probe.tuning import ProbeUnit, RadialSweep
from ..tables import format_table
from ..taxonomy import FAMILIES_BY_NAME, UnitFamily, family_named
from ..viz import Neuron, Request, Settings, plot_tuning, save_grid, visualise_many
from .common import model_options
from ..jsontext import strict_json

SHEET_UNITS = 24
SHEET_COLUMNS = 6


def run_find(layer_name: str, weights: Path | None, spec: Path | None, architecture: str | None, family: str,
             output: Path, limit: int, device: str, vis_steps: int = 0) -> int:
    family = family_named(family)
    if family not in FAMILIES and family not in FAMILIES_BY_NAME:
        raise UserError(f"unknown family {family!r}", hint="choose one of " + ", ".join([*FAMILIES, *FAMILIES_BY_NAME]))
    source = model_options(weights, spec, device, architecture)
    arch = source.architecture
    if not arch.has_layer(layer_name):
        raise UserError(f"{arch.name} has no layer {layer_name!r}", hint=f"`synthcircuits layers --arch {arch.name}` lists them")
    with locked_folder(output):  # one run writes a folder: a second is refused, naming this one
        if family in FAMILIES:
            return _find(source, arch.layer(layer_name), family, output, limit, vis_steps)
        return _find_in_table(source, arch.layer(layer_name), FAMILIES_BY_NAME[family], output, limit, vis_steps)


def _find_in_table(source: OpenedModel, layer: Layer, family: UnitFamily, output: Path, limit: int, vis_steps: int) -> int:
    """A family of the census's table: the layer through the census battery, its members first."""
    from ..census.layer import census_layer
    from ..census.sheets import family_sheet

    arch = source.architecture
    channels = range(source.layer_width(layer.name))
    names = [source.name_of(layer.name, c) for c in channels]
    branches = [unit_at(layer.name, c, arch).branch if not source.compact else None for c in channels]
    census = census_layer(source.model, source.geometry(), layer.name, list(channels), names, branches, progress=True)
    members = census.members(family.name)
    print(f"{source.label}: {layer.name}, {len(census.units)} units, {len(members)} {family.name} ({family.title}; rule: "
          + ", ".join(str(c) for c in family.rule) + ")\n")
    rows = [[u.unit, u.branch or "", f"{u.confidence:.2f}", *[f"{u.numbers.get(n, float('nan')):.3g}" for n in family.numbers]]
            for u in members[:limit]]
    print(format_table(["unit", "branch", "confidence", *family.numbers], rows) if rows else "no member")
    make_folders(output)
    with atomic_target(output / "find.json") as tmp:
        tmp.write_text(strict_json({"model": source.label, "architecture": arch.name, "layer": layer.name, "family": family.name,
                                   "rule": [str(c) for c in family.rule], "members": [u.as_json() for u in members],
                                   "units": [u.as_json() for u in census.units]}, indent=1))
    sheet = family_sheet(census, family, output / "find.png")
    print(f"\nsaved {output / 'find.json'}" + (f" and {sheet}" if sheet else ""))
    if vis_steps and members:
        shown = [UnitClass(u.unit, u.channel, u.branch, True, u.confidence, 0.0, 0.0, 0.0, 0.0, 0.0) for u in members[:SHEET_UNITS]]
        print(f"saved {vis_sheet(source.model, layer.name, shown, vis_steps, output / 'find_vis.png')}")
    return 0


def _find(source: OpenedModel, layer: Layer, family: str, output: Path, limit: int, vis_steps: int) -> int:
    arch = source.architecture
    channels = range(source.layer_width(layer.name))
    units = [ProbeUnit(source.name_of(layer.name, c), layer.name, c) for c in channels]
    branches = [unit_at(layer.name, c, arch).branch if not source.compact else None for c in channels]
    sweep = RadialSweep(step=10.0)
    rows = classify_layer(source.model, units, branches, family, sweep, progress=True)
    members = [r for r in rows if r.member]
    print(f"{source.label}: {layer.name}, {len(rows)} units, {len(members)} {family} "
          f"(stimuli {sweep.size} px, arcs of radius {sweep.radius:g} px where curves are asked for)\n")
    print(find_table(rows[:limit], family))
    make_folders(output)
    with atomic_target(output / "find.json") as tmp:
        tmp.write_text(strict_json({"model": source.label, "architecture": arch.name, "layer": layer.name, "family": family,
                                   "sweep": sweep.__dict__, "units": [r.as_json() for r in rows]}, indent=1))
    shown = members[:SHEET_UNITS] or rows[:SHEET_UNITS]
    sheet = contact_sheet(shown, output / "find.png")
    print(f"\nsaved {output / 'find.json'}" + (f" and {sheet}" if sheet else ""))
    if vis_steps:
        print(f"saved {vis_sheet(source.model, layer.name, shown, vis_steps, output / 'find_vis.png')}")
    return 0


def vis_sheet(model, layer: str, rows: list[UnitClass], steps: int, path: Path) -> Path:
    """The listed units' feature visualisations, six to a row, optimised as one batch."""
    requests = [Request(Neuron(layer, r.channel)) for r in rows]
    pictures = visualise_many(model, requests, Settings(steps=steps, size=96, canvas="receptive"))
    images = [p.final[0] for p in pictures]
    return save_grid([images[i : i + SHEET_COLUMNS] for i in range(0, len(images), SHEET_COLUMNS)], path)


def find_table(rows: list[UnitClass], family: str) -> str:
    selectivity = {"curves": "curve/line", "lines": "1-min/max", "edges": "1-min/max", "color": "hue/grey",
                   "boundaries": "weakest cue alone / all"}[family]
    body = [[r.unit, r.branch or "", "yes" if r.member else "", r.score, r.peak, r.preferred, r.width, r.echo, r.selectivity,
             r.detail] for r in rows]
    return format_table(["unit", "branch", family, "score", "peak", "preferred", "width", "echo", selectivity, "detail"], body)


def contact_sheet(rows: list[UnitClass], path: Path) -> Path | None:
    """The listed units' tuning curves, one panel each (colour units have none)."""
    panels = [(f"{r.unit}{f' ({r.branch})' if r.branch else ''} pref {r.preferred:.0f}", [("response", r.curve)])
              for r in rows if r.curve is not None]
    if not panels:
        return None
    return plot_tuning(panels, path, normalise=False)
