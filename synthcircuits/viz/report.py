"""A static HTML report (opens from disk, no server): an index of layers and units, and a
page per unit with its feature visualisation, tuning plot, weight diagram (linking to its
input units' pages) and, for specs, the text that defines it.

Pictures are cached under assets/ by a hash of everything they depend on, so a second run
only draws what changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..dataset.results import DatasetExamples
from ..errors import AddressError, UserError
from ..layout.address import UnitAddress
from ..models.weights import content_hash
from ..pages import write_page
from ..outputs import atomic_target, make_folders, pending
from ..language.source import compose_limited
from ..probe.tuning import ProbeUnit, RadialSweep, radial_tuning
from ..opened import OpenedModel
from .featurevis import Request, Settings, visualise_many
from .images import save_images
from .objectives import Neuron
from .tuning_plot import plot_tuning_each
from .weight_diagram import draw_weight_diagram, incoming_kernels, strongest

@dataclass(frozen=True)
class Section:
    """An extra page of a report: its file name, the template that draws it, and what it shows."""

    name: str
    template: str
    context: dict


@dataclass
class ReportUnit:
    address: UnitAddress
    family: str = ""
    orientation: float | None = None
    spec_text: str = ""


@dataclass
class Report:
    title: str
    source: OpenedModel
    units: list[ReportUnit]
    sections: list[Section] = field(default_factory=list)  # extra pages
    dataset: DatasetExamples | None = None  # shown on each unit page that it has rows for


def page_name(address: UnitAddress) -> str:
    return f"unit_{address.layer}_{address.channel}.html"


def family_texts(spec_path: Path) -> dict[str, str]:
    """Each family's YAML text, as written in the spec file."""
    text = Path(spec_path).read_text(encoding="utf-8")
    root = compose_limited(text, str(spec_path))
    lines = text.splitlines()
    result = {}
    for key, value in root.value:
        if key.value == "families":
            for node in value.value:
                name = next(v.value for k, v in node.value if k.value == "name")
                result[name] = "\n".join(lines[node.start_mark.line : node.end_mark.line + 1]).rstrip()
    return result


class AssetCache:
    """Pictures named by the hash of their inputs: drawn once, reused while nothing changes."""

    def __init__(self, folder: Path, model_hash: str):
        self.folder, self.model_hash = folder, model_hash
        self.drawn = 0
        make_folders(folder)

    def path(self, kind: str, key: object) -> Path:
        digest = hashlib.sha256(json.dumps([self.model_hash, kind, key], default=str).encode()).hexdigest()[:20]
        return self.folder / f"{kind}_{digest}.png"

    def has(self, path: Path) -> bool:
        return pending(path)

    def drew(self, path: Path) -> str:
        self.drawn += 1
        return self.href(path)

    @staticmethod
    def href(path: Path) -> str:
        return f"assets/{path.name}"

    def get(self, kind: str, key: object, draw: Callable[[Path], object]) -> str:
        path = self.path(kind, key)
        if not self.has(path):
            draw(path)
            self.drawn += 1
        return self.href(path)


def write_report(report: Report, output: Path, steps: int = 128, size: int = 96, sweep: RadialSweep = RadialSweep(step=10),
                 canvas: str = "receptive") -> AssetCache:
    """Every unit's page, then the index. Pictures are drawn in batches first: all feature
    visualisations together (batched by layer and canvas), all tuning sweeps of a layer in one
    run and one figure."""
    output = Path(output)
    cache = AssetCache(output / "assets", content_hash(report.source.model.state_dict()))
    vis = draw_visualisations(report, cache, Settings(steps=steps, size=size, canvas=canvas))
    tuning = draw_tuning(report, cache, sweep)
    pages = {u.address for u in report.units}
    index_rows = []
    for unit in tqdm(report.units, desc="report pages", unit="page", leave=False):
        write_page(output / page_name(unit.address), "report_unit.html", title=str(unit.address), address=str(unit.address),
                   family=unit.family, orientation=unit.orientation, vis=vis[unit.address], tuning=tuning[unit.address],
                   weights=_weights_section(report.source, unit, cache, pages),
                   dataset=_dataset_section(report.dataset, str(unit.address), cache) if report.dataset is not None else None,
                   spec_text=unit.spec_text)
        index_rows.append((unit, vis[unit.address]))
    _write_index(report, output, index_rows)
    for section in report.sections:
        write_page(output / section.name, section.template, title=section.name, **section.context)
    return cache


def draw_visualisations(report: Report, cache: AssetCache, settings: Settings) -> dict[UnitAddress, str]:
    """Each unit's feature visualisation (seed 0, as `vis UNIT --canvas ...` draws it); the
    ones not cached are optimised together."""
    source = report.source
    paths = {u.address: cache.path("vis", [str(u.address), settings.steps, settings.size, settings.canvas]) for u in report.units}
    todo = [u.address for u in report.units if not cache.has(paths[u.address])]
    requests = [Request(Neuron(a.layer, source.channel_of(a))) for a in todo]
    for address, picture in zip(todo, visualise_many(source.model, requests, settings)):
        save_images([picture.final[0]], paths[address])
        cache.drew(paths[address])
    return {address: cache.href(path) for address, path in paths.items()}


def draw_tuning(report: Report, cache: AssetCache, sweep: RadialSweep) -> dict[UnitAddress, str]:
    """Each unit's radial tuning plot: one sweep per layer for all its units, one figure cut into pictures."""
    source = report.source
    paths = {u.address: cache.path("tuning", [str(u.address), sweep.__dict__]) for u in report.units}
    by_layer: dict[str, list[UnitAddress]] = {}
    for unit in report.units:
        if not cache.has(paths[unit.address]):
            by_layer.setdefault(unit.address.layer, []).append(unit.address)
    for layer, addresses in by_layer.items():
        probes = [ProbeUnit(str(a), layer, source.channel_of(a)) for a in addresses]
        curves = radial_tuning(source.model, probes, sweep)
        panels = [(f"{a} (radius {sweep.radius:g} px arcs)", [(source.label, c)]) for a, c in zip(addresses, curves)]
        plot_tuning_each(panels, [paths[a] for a in addresses], normalise=False)
        for address in addresses:
            cache.drew(paths[address])
    return {address: cache.href(path) for address, path in paths.items()}


def _weights_section(source: OpenedModel, unit: ReportUnit, cache: AssetCache, pages: set[UnitAddress]) -> dict:
    try:
        kernels = strongest(incoming_kernels(source, unit.address))
    except ValueError as exc:  # the first conv reads pixels; a traced add or pool has no one conv
        return {"problem": str(exc)}
    picture = cache.get("weights", [str(unit.address)], lambda p: draw_weight_diagram(f"{unit.address} <- strongest inputs", kernels, p))
    links = []
    for k in kernels:
        try:
            address = source.parse_unit(k.name)
        except AddressError:  # a compact build's unpinned unit, named family[index]
            address = None
        links.append({"name": k.name, "page": page_name(address) if address in pages else None})
    return {"problem": None, "picture": picture, "links": links}


def _dataset_section(dataset: DatasetExamples, unit: str, cache: AssetCache) -> dict:
    """The unit's strongest dataset examples and a strip sampled by sigma bin, as receptive-field crops."""
    rows, stats = dataset.examples.get(unit, []), dataset.stats.get(unit)
    if not rows or stats is None:
        return {"missing": f"{dataset.folder} has no examples of {unit}"}

    def figure(row: dict, caption: str) -> dict:
        png = dataset.crop_png(row)
        asset = None if png is None else cache.get("crop", [hashlib.sha256(png).hexdigest()], lambda p: _write_bytes(png, p))
        return {"asset": asset, "image": row["image"], "name": Path(row["image"]).name, "caption": caption}

    last = max(r["bin"] for r in rows)

    def bin_label(b: int) -> str:
        return f"\u2265{b}" if b == last else f"{b}-{b + 1}"

    return {"missing": None,
            "summary": (f"{stats['images']} images; mean {stats['mean']:.3g}, std {stats['std']:.3g}, median {stats['q50']:.3g}, "
                        f"max {stats['max']:.3g}"),
            "top": [figure(r, f"{r['activation']:.3g}") for r in rows if r["kind"] == "top"],
            "bins": [figure(r, f"{bin_label(r['bin'])} \u03c3: {r['activation']:.3g}") for r in rows if r["kind"] == "sigma"]}


def decompiled_section(folder: Path, output: Path) -> Section:
    """A `decompile --report` folder copied under OUTPUT/decompiled/, and a page linking it."""
    index = folder / "index.html"
    if not index.is_file() or not (folder / "assets").is_dir():
        raise UserError(f"{folder} is not a decompile report (no index.html and assets/)",
                        hint="write one with `synthcircuits decompile ... --report DIR`")
    _copy_pages(folder, output / "decompiled", [index, *sorted(p for p in (folder / "assets").iterdir() if p.suffix == ".png" and p.is_file())])
    return Section("decompiled.html", "report_decompiled.html", {})


def census_section(folder: Path, output: Path) -> Section:
    """A `census` folder's page and contact sheets copied under OUTPUT/census/, and a page with its
    tables linking it."""
    index, tables = folder / "index.html", folder / "census.md"
    if not index.is_file() or not tables.is_file() or not (folder / "sheets").is_dir():
        raise UserError(f"{folder} is not a census folder (no index.html, census.md and sheets/)",
                        hint="write one with `synthcircuits census LAYERS ... -o DIR`")
    sheets = sorted(p for p in (folder / "sheets").rglob("*.png") if p.is_file() and not p.is_symlink())
    _copy_pages(folder, output / "census", [index, tables, folder / "census.json", *sheets])
    return Section("census.html", "report_census.html", {"tables": tables.read_text(encoding="utf-8").replace("```", "")})


def faithfulness_section(folder: Path, output: Path) -> Section:
    """A `faithfulness` folder's page and JSON copied under OUTPUT/faithfulness/, and a page with its table."""
    page, tables = folder / "faithfulness.html", folder / "faithfulness.md"
    if not page.is_file() or not tables.is_file():
        raise UserError(f"{folder} is not a faithfulness folder (no faithfulness.html and faithfulness.md)",
                        hint="write one with `synthcircuits faithfulness CIRCUIT --weights W --images DIR -o DIR`")
    _copy_pages(folder, output / "faithfulness", [page, tables, folder / "faithfulness.json"])
    return Section("faithfulness.html", "faithfulness.html", {"circuit": "the measurement", "back": True,
                                                              "link": "faithfulness/faithfulness.html",
                                                              "tables": tables.read_text(encoding="utf-8").replace("```", "")})


def _copy_pages(folder: Path, target: Path, files: Sequence[Path]) -> None:
    for path in files:
        if path.is_file():
            _copy(path, target / path.relative_to(folder))


def _copy(source: Path, target: Path) -> None:
    with atomic_target(target) as tmp:
        shutil.copyfile(source, tmp)


def _write_bytes(data: bytes, target: Path) -> None:
    with atomic_target(target) as tmp:
        tmp.write_bytes(data)


def _write_index(report: Report, output: Path, rows: Sequence[tuple[ReportUnit, str]]) -> None:
    by_layer: dict[str, list[dict]] = {}
    for unit, vis in rows:
        by_layer.setdefault(unit.address.layer, []).append({
            "vis": vis, "page": page_name(unit.address), "address": str(unit.address), "family": unit.family,
            "orientation": "" if unit.orientation is None else f"{unit.orientation:g}"})
    write_page(output / "index.html", "report_index.html", title=report.title, model=report.source.label, version=__version__,
               sections=[s.name for s in report.sections], layers=list(by_layer.items()))
