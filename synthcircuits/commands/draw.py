"""Commands that draw: `vis`, `weights diagram`, `tuning` and `report`.

Each opens its model first and parses unit addresses against that model's architecture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..dataset.results import read_dataset_examples
from ..folder_lock import locked_folder
from ..edit import apply_edits, edited_model, load_edit
from ..dataset.items import list_images
from ..edit.effect import measure_effect
from ..errors import UserError
from ..limits import check_network_input
from ..opened import SPEC_SUFFIXES, OpenedModel
from ..probe.tuning import ProbeUnit, RadialSweep, radial_tuning
from ..viz import draw_weight_diagram, incoming_kernels, plot_orientation_radius, plot_tuning, strongest
from ..images import load_image, npy_header
from ..models.capture import check_names
from ..viz.featurevis import Request, Settings, visualise_many
from ..viz.images import save_grid
from ..viz.objective_text import parse_objective
from ..viz.objectives import Channel, Neuron, Objective
from ..viz.report import Report, ReportUnit, Section, census_section, decompiled_section, faithfulness_section, family_texts, write_report
from .common import model_options, open_model

MAX_DIRECTION = 100_000  # entries of a direction vector: wider than any layer of the supported networks


def run_vis(objective_texts: list[str], weights: Path | None, spec: Path | None, output: Path, steps: int, size: int,
            kind: str, seed: int, thresholds: list[int] | None, device: str, architecture: str | None = None,
            batch: int = 1, canvas: str = "full") -> int:
    """Feature visualisations of one or more objectives, optimised together: one row per
    objective, its `batch` images (and their earlier steps) side by side."""
    # Objectives are batched to the memory budget, but one objective's images stay together.
    check_network_input(batch, size, size, f"{batch} feature visualisation(s) of {size} px", backward=True)
    marks = sorted(set(thresholds or []))
    if marks and marks[-1] > steps:
        raise UserError(f"--thresholds {marks[-1]} is past the last step ({steps})", hint="give steps from 0 to --steps")
    source = model_options(weights, spec, device, architecture)
    objectives = [_objective(source, text, kind) for text in objective_texts]
    check_names(source.model, sorted(set().union(*(o.layers() for o in objectives))))
    settings = Settings(steps=steps, size=size, thresholds=tuple(marks), canvas=canvas)
    pictures = visualise_many(source.model, [Request(o, batch, seed) for o in objectives], settings)
    rows = [[image for t in sorted(p.snapshots) if t in marks or t == steps for image in p.snapshots[t]] for p in pictures]
    save_grid(rows, output)
    kept = ", ".join(str(t) for t in sorted(pictures[0].snapshots))
    for p in pictures:
        print(f"{p.request.objective}: {p.canvas.describe()}")
    print(f"saved {output} ({len(pictures)} objective(s) x {batch} image(s), steps {kept})")
    return 0


def _objective(source: OpenedModel, text: str, kind: str) -> Objective:
    """An objective from the command line: algebra over unit addresses; with --objective
    channel, a bare unit means its channel's mean."""
    def unit(address_text: str) -> tuple[str, int]:
        address = source.parse_unit(address_text)
        return address.layer, source.channel_of(address)

    objective = parse_objective(text, unit, _objective_file)
    if kind == "channel" and isinstance(objective, Neuron):
        return Channel(objective.layer, objective.channel)
    return objective


def _objective_file(kind: str, path: str) -> Tensor:
    """caricature(LAYER, IMAGE): an image file; direction(LAYER, FILE.npy): a 1-D float vector."""
    if kind == "caricature":
        return load_image(path)
    file = Path(path)
    shape, dtype = npy_header(file)
    if len(shape) != 1 or not np.issubdtype(dtype, np.floating) or not 0 < shape[0] <= MAX_DIRECTION:
        raise UserError(f"{file}: a direction is a 1-D float array of at most {MAX_DIRECTION:,} values, not {dtype} {list(shape)}",
                        hint="np.save('direction.npy', vector.astype('float32'))")
    vector = torch.from_numpy(np.load(file, allow_pickle=False).astype(np.float32))
    if not torch.isfinite(vector).all():
        raise UserError(f"{file}: the direction holds NaN or infinite values")
    return vector


def run_report(source_path: Path, output: Path, units_text: str | None, steps: int, size: int, edits: Path | None,
               images: Path | None, device: str, architecture: str | None = None, dataset_examples: Path | None = None,
               canvas: str = "receptive", decompiled: Path | None = None, census: Path | None = None,
               faithfulness: Path | None = None) -> int:
    check_network_input(1, size, size, f"a {size} px feature visualisation", backward=True)
    dataset = read_dataset_examples(dataset_examples) if dataset_examples is not None else None
    source = open_model(source_path, device, architecture)
    wanted = source.parse_units(units_text) if units_text else None
    if source_path.suffix in SPEC_SUFFIXES:
        from ..compile import compile_spec
        from ..language import load_spec

        build = compile_spec(load_spec(source_path), "inceptionv1")
        texts = family_texts(source_path)
        units = [ReportUnit(u.address, u.family, u.orientation, texts.get(u.family, "")) for u in build.units
                 if u.layer != "conv2d0" and (wanted is None or u.address in wanted)]
        title = f"{build.spec.name}: compiled circuit"
    else:
        if wanted is None:
            raise UserError("--units is needed for a weights file", hint="e.g. --units " + _example_units(source))
        units = [ReportUnit(u) for u in wanted]
        title = f"{source_path.name}"
    with locked_folder(output):  # one run writes a report folder: a second is refused, naming this one
        sections = []
        if edits is not None:
            sections.append(_edit_section(source, edits, images))
        if decompiled is not None:
            sections.append(decompiled_section(decompiled, output))
        if census is not None:
            sections.append(census_section(census, output))
        if faithfulness is not None:
            sections.append(faithfulness_section(faithfulness, output))
        cache = write_report(Report(title, source, units, sections, dataset), output, steps=steps, size=size, canvas=canvas)
    print(f"saved {output / 'index.html'} ({len(units)} unit pages; {cache.drawn} pictures drawn, the rest cached)")
    return 0


def _example_units(source: OpenedModel) -> str:
    layer = next((l for l in source.architecture.unit_layers() if l.kind in ("block", "conv")), source.architecture.layers[0])
    return f"{layer.name}:0,{layer.name}:1"


def _edit_section(source: OpenedModel, edits: Path, images: Path | None) -> Section:
    if images is None:
        raise UserError("a report of an edit needs --images DIR to measure its effect on")
    edit = load_edit(edits)
    result = apply_edits(source.model.state_dict(), edit)
    report = measure_effect(source.model, edited_model(result), list_images(images, architecture=source.architecture.name))
    return Section("edit.html", "report_edit.html", {"name": edit.name, "log": result.log_table(), "images": str(images),
                                                      "effect": report.tables()})


def run_tuning(sources: list[Path], units_text: str, radii: list[float], step: float, output: Path, device: str,
               architecture: str | None = None) -> int:
    """Radial tuning of the same units in several models, overlaid; with several radii also an
    orientation x radius map per unit (first model)."""
    opened = [open_model(p, device, architecture) for p in sources]
    units = opened[0].parse_units(units_text)
    curves = {}
    for source in opened:
        mine = source.parse_units(units_text)
        for radius in radii:
            probes = [ProbeUnit(str(u), u.layer, source.channel_of(u)) for u in mine]
            for u, curve in zip(units, radial_tuning(source.model, probes, RadialSweep(radius=radius, step=step))):
                curves[(source.label, radius, u)] = curve
    main_radius = radii[len(radii) // 2]
    panels = [(f"{u} (radius {main_radius:g} px)", [(s.label, curves[(s.label, main_radius, u)]) for s in opened]) for u in units]
    plot_tuning(panels, output)
    print(f"saved {output}")
    if len(radii) > 1:
        first = opened[0].label
        maps = [(str(u), list(curves[(first, radii[0], u)].angles), radii,
                 np.stack([curves[(first, r, u)].responses for r in radii])) for u in units]
        heatmap = output.with_name(output.stem + "_radius.png")
        plot_orientation_radius(maps, heatmap)
        print(f"saved {heatmap}")
    return 0


def run_diagram(unit_text: str, weights: Path | None, spec: Path | None, output: Path, threshold: float, device: str,
                architecture: str | None = None, through: int = 0) -> int:
    source = model_options(weights, spec, device, architecture)
    unit = source.parse_unit(unit_text)
    try:
        kernels = strongest(incoming_kernels(source, unit, through), threshold)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    draw_weight_diagram(f"{unit} <- inputs with weights >= {threshold:.0%} of its largest (red excites, blue inhibits)", kernels, output)
    print(f"saved {output} ({len(kernels)} inputs)")
    return 0
