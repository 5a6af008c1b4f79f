"""`synthcircuits find LAYER`: classify every unit of a layer by synthetic stimuli, rank them,
and write a table, JSON and a contact sheet of the members' tuning curves (and, with
`--vis-steps`, of their feature visualisations, optimised as one batch)."""

from __future__ import annotations

import json
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
from ..viz import Neuron, Request, Settings, plot_tuning, save_grid, visualise_many
from .common import model_options

SHEET_UNITS = 24
SHEET_COLUMNS = 6


def run_find(layer_name: str, weights: Path | None, spec: Path | None, architecture: str | None, family: str,
             output: Path, limit: int, device: str, vis_steps: int = 0) -> int:
    if family not in FAMILIES:
        raise UserError(f"unknown family {family!r}", hint="choose one of " + ", ".join(FAMILIES))
    source = model_options(weights, spec, device, architecture)
    arch = source.architecture
    if not arch.has_layer(layer_name):
        raise UserError(f"{arch.name} has no layer {layer_name!r}", hint=f"`synthcircuits layers --arch {arch.name}` lists them")
    with locked_folder(output):  # one run writes a folder: a second is refused, naming this one
        return _find(source, arch.layer(layer_name), family, output, limit, vis_steps)


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
        tmp.write_text(json.dumps({"model": source.label, "architecture": arch.name, "layer": layer.name, "family": family,
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
    selectivity = {"curves": "curve/line", "lines": "1-min/max", "edges": "1-min/max", "color": "hue/grey"}[family]
    body = [[r.unit, r.branch or "", "yes" if r.member else "", r.score, r.peak, r.preferred, r.width, r.echo, r.selectivity,
             r.detail] for r in rows]
    return format_table(["unit", "branch", family, "score", "peak", "preferred", "width", "echo", selectivity, "hue"], body)


def contact_sheet(rows: list[UnitClass], path: Path) -> Path | None:
    """The listed units' tuning curves, one panel each (colour units have none)."""
    panels = [(f"{r.unit}{f' ({r.branch})' if r.branch else ''} pref {r.preferred:.0f}", [("response", r.curve)])
              for r in rows if r.curve is not None]
    if not panels:
        return None
    return plot_tuning(panels, path, normalise=False)
