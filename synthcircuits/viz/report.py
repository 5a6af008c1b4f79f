"""A static HTML report (opens from disk, no server): an index of layers and units, and a
page per unit with its feature visualisation, tuning plot, weight diagram (linking to its
input units' pages) and, for specs, the text that defines it.

Pictures are cached under assets/ by a hash of everything they depend on, so a second run
only draws what changed.
"""

from __future__ import annotations

import hashlib
import html
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
from ..outputs import atomic_target, make_folders, pending
from ..language.source import compose_limited
from ..probe.tuning import ProbeUnit, RadialSweep, radial_tuning
from ..opened import OpenedModel
from .featurevis import Request, Settings, visualise_many
from .images import save_images
from .objectives import Neuron
from .tuning_plot import plot_tuning_each
from .weight_diagram import draw_weight_diagram, incoming_kernels, strongest

BROKEN_IMAGE_PROBE = (
    "<script>window.addEventListener('load',function(){var n=0;for(var i=0;i<document.images.length;i++)"
    "{var m=document.images[i];if(!m.complete||m.naturalWidth===0)n++;}document.body.setAttribute('data-broken-images',n);});</script>"
)
STYLE = (
    "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}img{max-width:100%}"
    "table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left}"
    "pre{background:#f6f6f6;padding:1em;overflow:auto}.thumb{width:64px;height:64px}</style>"
)


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
    sections: list[tuple[str, str]] = field(default_factory=list)  # extra pages: (file name, html body)
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
        body = [f"<p><a href='index.html'>index</a></p><h1>{html.escape(str(unit.address))}</h1>"]
        if unit.family:
            designed = f", designed orientation {unit.orientation:g} deg" if unit.orientation is not None else ""
            body.append(f"<p>family <b>{html.escape(unit.family)}</b>{designed}</p>")
        body.append(f"<h2>Feature visualisation</h2><img src='{vis[unit.address]}' alt='feature visualisation of {unit.address}' "
                    "width='256'>")
        body.append(f"<h2>Tuning</h2><img src='{tuning[unit.address]}' alt='radial tuning of {unit.address}'>")
        body.append(_weights_section(report.source, unit, cache, pages))
        if report.dataset is not None:
            body.append(_dataset_section(report.dataset, str(unit.address), cache))
        if unit.spec_text:
            body.append(f"<h2>Spec</h2><pre>{html.escape(unit.spec_text)}</pre>")
        write_page(output / page_name(unit.address), f"{unit.address}", "\n".join(body))
        index_rows.append((unit, vis[unit.address]))
    _write_index(report, output, index_rows)
    for name, body in report.sections:
        write_page(output / name, name, f"<p><a href='index.html'>index</a></p>{body}")
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


def _weights_section(source: OpenedModel, unit: ReportUnit, cache: AssetCache, pages: set[UnitAddress]) -> str:
    try:
        kernels = strongest(incoming_kernels(source, unit.address))
    except ValueError as exc:  # the first conv reads pixels; a traced add or pool has no one conv
        return f"<h2>Weights</h2><p>{html.escape(str(exc))}</p>"
    picture = cache.get("weights", [str(unit.address)], lambda p: draw_weight_diagram(f"{unit.address} <- strongest inputs", kernels, p))
    links = []
    for k in kernels:
        try:
            address = source.parse_unit(k.name)
        except AddressError:  # a compact build's unpinned unit, named family[index]
            address = None
        label = html.escape(k.name)
        links.append(f"<a href='{page_name(address)}'>{label}</a>" if address in pages else label)
    return (f"<h2>Weights</h2><img src='{picture}' alt='weight diagram of {unit.address}'>"
            f"<p>inputs (red excites, blue inhibits): {', '.join(links) or 'none'}</p>")


def _dataset_section(dataset: DatasetExamples, unit: str, cache: AssetCache) -> str:
    """The unit's strongest dataset examples and a strip sampled by sigma bin, as receptive-field crops."""
    rows, stats = dataset.examples.get(unit, []), dataset.stats.get(unit)
    if not rows or stats is None:
        return f"<h2>Dataset examples</h2><p>{html.escape(str(dataset.folder))} has no examples of {html.escape(unit)}</p>"

    def figure(row: dict, caption: str) -> str:
        png = dataset.crop_png(row)
        if png is None:
            return f"<figure>{html.escape(Path(row['image']).name)}<figcaption>{caption}</figcaption></figure>"
        asset = cache.get("crop", [hashlib.sha256(png).hexdigest()], lambda p: _write_bytes(png, p))
        return (f"<figure style='display:inline-block;margin:4px'><img src='{asset}' width='96' alt='{html.escape(row['image'])}'>"
                f"<figcaption>{caption}</figcaption></figure>")

    top = [figure(r, f"{r['activation']:.3g}") for r in rows if r["kind"] == "top"]
    last = max(r["bin"] for r in rows)

    def bin_label(b: int) -> str:
        return f"&ge;{b}" if b == last else f"{b}-{b + 1}"

    bins = [figure(r, f"{bin_label(r['bin'])} &sigma;: {r['activation']:.3g}") for r in rows if r["kind"] == "sigma"]
    summary = (f"{stats['images']} images; mean {stats['mean']:.3g}, std {stats['std']:.3g}, median {stats['q50']:.3g}, "
               f"max {stats['max']:.3g}")
    return (f"<h2>Dataset examples</h2><p>{html.escape(summary)}</p><h3>Strongest</h3>{''.join(top)}"
            f"<h3>By activation, in standard deviations above the mean</h3>{''.join(bins)}")


def decompiled_section(folder: Path, output: Path) -> tuple[str, str]:
    """A `decompile --report` folder copied under OUTPUT/decompiled/, and a page linking it."""
    index = folder / "index.html"
    if not index.is_file() or not (folder / "assets").is_dir():
        raise UserError(f"{folder} is not a decompile report (no index.html and assets/)",
                        hint="write one with `synthcircuits decompile ... --report DIR`")
    _copy_pages(folder, output / "decompiled", [index, *sorted(p for p in (folder / "assets").iterdir() if p.suffix == ".png" and p.is_file())])
    return ("decompiled.html", "<h1>Decompiled units</h1><p>The trained units, decompiled into a draft spec and rebuilt: "
            "fitted rules, round-trip numbers, tuning and feature visualisations side by side.</p>"
            "<p><a href='decompiled/index.html'>the round-trip report</a></p>")


def census_section(folder: Path, output: Path) -> tuple[str, str]:
    """A `census` folder's page and contact sheets copied under OUTPUT/census/, and a page with its
    tables linking it."""
    index, tables = folder / "index.html", folder / "census.md"
    if not index.is_file() or not tables.is_file() or not (folder / "sheets").is_dir():
        raise UserError(f"{folder} is not a census folder (no index.html, census.md and sheets/)",
                        hint="write one with `synthcircuits census LAYERS ... -o DIR`")
    sheets = sorted(p for p in (folder / "sheets").rglob("*.png") if p.is_file() and not p.is_symlink())
    _copy_pages(folder, output / "census", [index, tables, folder / "census.json", *sheets])
    text = tables.read_text(encoding="utf-8").replace("```", "")
    return ("census.html", "<h1>Census</h1><p>Every unit of the layers given a family by the stimulus battery; the shares beside the "
            f"articles'.</p><p><a href='census/index.html'>the census with its contact sheets</a></p><pre>{html.escape(text)}</pre>")


def faithfulness_section(folder: Path, output: Path) -> tuple[str, str]:
    """A `faithfulness` folder's page and JSON copied under OUTPUT/faithfulness/, and a page with its table."""
    page, tables = folder / "faithfulness.html", folder / "faithfulness.md"
    if not page.is_file() or not tables.is_file():
        raise UserError(f"{folder} is not a faithfulness folder (no faithfulness.html and faithfulness.md)",
                        hint="write one with `synthcircuits faithfulness CIRCUIT --weights W --images DIR -o DIR`")
    _copy_pages(folder, output / "faithfulness", [page, tables, folder / "faithfulness.json"])
    text = tables.read_text(encoding="utf-8").replace("```", "")
    return ("faithfulness.html", "<h1>Faithfulness</h1><p>The circuit spliced into the trained network in place of its units, against "
            "silencing and mean-ablating them.</p><p><a href='faithfulness/faithfulness.html'>the measurement</a></p>"
            f"<pre>{html.escape(text)}</pre>")


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
    body = [f"<h1>{html.escape(report.title)}</h1><p>model: {html.escape(report.source.label)} &middot; synthcircuits {__version__}</p>"]
    for name, _ in report.sections:
        body.append(f"<p><a href='{name}'>{html.escape(name)}</a></p>")
    by_layer: dict[str, list[tuple[ReportUnit, str]]] = {}
    for unit, vis in rows:
        by_layer.setdefault(unit.address.layer, []).append((unit, vis))
    for layer, entries in by_layer.items():
        body.append(f"<h2>{html.escape(layer)}</h2><table><tr><th></th><th>unit</th><th>family</th><th>orientation</th></tr>")
        for unit, vis in entries:
            orientation = "" if unit.orientation is None else f"{unit.orientation:g}"
            body.append(f"<tr><td><img class='thumb' src='{vis}' alt=''></td><td><a href='{page_name(unit.address)}'>{unit.address}</a></td>"
                        f"<td>{html.escape(unit.family)}</td><td>{orientation}</td></tr>")
        body.append("</table>")
    write_page(output / "index.html", report.title, "\n".join(body))


def write_page(path: Path, title: str, body: str) -> None:
    """A static page in the report's style, written atomically."""
    text = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head><body>{body}{BROKEN_IMAGE_PROBE}</body></html>\n"
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
