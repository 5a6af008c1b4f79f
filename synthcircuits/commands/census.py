"""`synthcircuits census LAYER[,LAYER...]`: every unit of the layers through one stimulus battery,
each given a family from the family table (or "other", with the reason), the layer's shares set
beside the articles' where the layer has an InceptionV1 counterpart, and, for a compiled spec,
how many designed units the census recovered.

Writes census.json, census.parquet (one row per unit, every feature), census.md (the tables),
index.html with a contact sheet per family and layer under sheets/, and with --images the
runner's resumable examples/ folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from .. import __version__
from ..census.battery import BATTERY, SIZE
from ..census.evidence import DatasetEvidence, gather
from ..census.features import FEATURES, with_dataset
from ..census.layer import LayerCensus, census_layer
from ..census.shares import ShareRow, recovery, share_rows
from ..census.sheets import ROWS, family_sheet
from ..dataset.examples import LayerUnits
from ..dataset.items import list_items
from ..dataset.runner import RunOptions
from ..folder_lock import locked_folder
from ..layout.address import unit_at
from ..layout.architectures import Architecture
from ..opened import OpenedModel
from ..outputs import atomic_target, make_folders, safe_name
from ..tables import format_table
from ..taxonomy import ARTICLE_SHARES, FAMILY_TABLE, OTHER
from ..viz import Neuron, Request, Settings, visualise_many
from ..pages import write_page
from .common import designed_units, model_options
from ..jsontext import strict_json

FORMAT = 1


def run_census(layers_text: str, weights: Path | None, spec: Path | None, architecture: str | None, output: Path, device: str,
               vis_steps: int = 0, images: Path | None = None, limit: int | None = None, ray: str | None = None) -> int:
    source = model_options(weights, spec, device, architecture)
    layers = source.spatial_layers(layers_text, "synthcircuits census mixed3a,mixed3b --spec specs/curve_circuit.yaml")
    items = list_items(images, None, source.architecture.name, limit) if images is not None else None
    with locked_folder(output):  # one run writes a folder: a second is refused, naming this one
        return _census(source, layers, output, device, vis_steps, items, ray)


def _census(source: OpenedModel, layers: list[str], output: Path, device: str, vis_steps: int, items, ray: str | None) -> int:
    arch = source.architecture
    designed = designed_units(source)
    unit_lists = [_layer_units(source, layer) for layer in layers]
    make_folders(output)
    evidence = None
    if items is not None:
        options = RunOptions(device=device)
        evidence = gather(source.model, source.geometry(), unit_lists, items, output / "examples", options, ray)
    results = []
    for units in tqdm(unit_lists, desc="census", unit="layer", disable=len(unit_lists) < 2):
        branches = [None if source.compact else unit_at(units.layer, c, arch).branch for c in units.channels]
        dataset_max = np.array([evidence.maximum.get(n, np.nan) for n in units.names]) if evidence else None
        census = census_layer(source.model, source.geometry(), units.layer, units.channels, units.names, branches,
                              progress=True, extra=(lambda f: with_dataset(f, dataset_max)) if evidence else None)
        results.append(census)
    vis = _visualisations(source, results, vis_steps) if vis_steps else {}
    report = []
    summary = {"format": FORMAT, "synthcircuits": __version__, "model": source.label, "architecture": "compact" if source.compact else arch.name,
               "images": evidence.images if evidence else None, "battery": [{"kind": k.name, "shows": k.shows} for k in BATTERY],
               "families": [_family_json(f) for f in FAMILY_TABLE], "features": FEATURES, "layers": []}
    for census in results:
        counterpart = _counterpart(arch, census.layer, source.compact)
        shares = share_rows(census.units, counterpart)
        found = recovery(census.units, designed) if designed else None
        sheets = _sheets(census, output, vis, evidence)
        text = _layer_text(source, census, counterpart, shares, found)
        print(text + "\n")
        report.append((census, counterpart, shares, found, sheets, text))
        summary["layers"].append(_layer_json(census, counterpart, shares, found, sheets))
    with atomic_target(output / "census.json") as tmp:
        tmp.write_text(strict_json(summary, indent=1))
    _write_parquet(results, output / "census.parquet")
    with atomic_target(output / "census.md") as tmp:
        tmp.write_text("\n\n".join(f"```\n{entry[-1]}\n```" for entry in report) + "\n")
    _write_page(source, report, evidence, output / "index.html")
    print(f"saved {output / 'census.json'}, census.parquet, census.md and index.html (contact sheets under {output / 'sheets'})")
    return 0


def _layer_units(source: OpenedModel, layer: str) -> LayerUnits:
    channels = tuple(range(source.layer_width(layer)))
    return LayerUnits(layer, channels, tuple(source.name_of(layer, c) for c in channels))


def _counterpart(arch: Architecture, layer: str, compact: bool) -> str | None:
    """The InceptionV1 layer the articles' shares are for, if this layer plays its part."""
    for name in ARTICLE_SHARES:
        try:
            if (name == layer if compact else arch.equivalent_of(name) == layer):
                return name
        except KeyError:
            continue
    return None


def _visualisations(source: OpenedModel, results: list[LayerCensus], steps: int):
    """Feature visualisations of the units each sheet shows, optimised as one batch."""
    shown = [(c.layer, u) for c in results for f in FAMILY_TABLE for u in c.members(f.name)[:ROWS]]
    if not shown:
        return {}
    requests = [Request(Neuron(layer, u.channel)) for layer, u in shown]
    pictures = visualise_many(source.model, requests, Settings(steps=steps, size=96, canvas="receptive"))
    return {u.unit: p.final[0] for (_, u), p in zip(shown, pictures)}


def _sheets(census: LayerCensus, output: Path, vis, evidence: DatasetEvidence | None) -> dict[str, str]:
    out = {}
    for f in FAMILY_TABLE:
        relative = f"sheets/{safe_name(census.layer)}/{f.name}.png"
        if family_sheet(census, f, output / relative, vis=vis or None, crops=evidence.kept if evidence else None):
            out[f.name] = relative
    return out


def _family_json(f) -> dict:
    return {"name": f.name, "title": f.title, "stimuli": list(f.stimuli), "rule": [str(c) for c in f.rule], "numbers": list(f.numbers),
            "field_px": [f.field_px[0], f.field_px[1] if np.isfinite(f.field_px[1]) else None],
            "articles_examples": {k: list(v) for k, v in f.examples.items()}}


def _layer_json(census: LayerCensus, counterpart, shares: list[ShareRow], found, sheets: dict[str, str]) -> dict:
    kinds = {f.name: f.stimuli for f in FAMILY_TABLE}
    units = []
    for u in census.units:
        entry = u.as_json()
        entry["best"] = census.best_rows(u, kinds.get(u.family, ("arcs", "lines", "fields")))
        units.append(entry)
    data = {"layer": census.layer, "field_px": census.field_px, "canvas": SIZE, "window": list(census.window), "centre": list(census.centre),
            "counterpart": counterpart, "count": len(census.units), "sheets": sheets,
            "shares": [{"family": r.family, "title": r.title, "count": r.count, "share": r.share, "articles": r.articles,
                        "articles_name": r.articles_name} for r in shares],
            "units": units}
    if found is not None:
        rows, undesigned, claimed = found
        data["recovery"] = {"designed": [{"kind": r.kind, "units": r.designed, "recovered": r.recovered, "elsewhere": r.elsewhere} for r in rows],
                            "undesigned": undesigned, "undesigned_claimed": claimed}
    return data


def _layer_text(source: OpenedModel, census: LayerCensus, counterpart, shares: list[ShareRow], found) -> str:
    head = (f"{source.label}: {census.layer}, {len(census.units)} units, receptive field {census.field_px} px"
            + (f" (the articles' {counterpart})" if counterpart else ""))
    body = [[r.family or "-", r.title, "" if r.count is None else r.count, "" if r.share is None else f"{r.share:.1%}",
             f"{r.articles:.0%}" if r.articles is not None else ""] for r in shares]
    lines = [head, "", format_table(["family", "what", "units", "share", "articles"], body)]
    silent = sum(u.note.startswith("silent") for u in census.units)
    weak = sum(u.note.startswith("weak") for u in census.units)
    if silent or weak:
        lines.append(f"of the other units, {silent} are silent (no stimulus makes them answer) and {weak} answer the battery weakly")
    if found is not None:
        rows, undesigned, claimed = found
        lines += ["", "designed units (the spec is the ground truth):",
                  format_table(["built as", "units", "found", "recovered", "elsewhere"],
                               [[r.kind, r.designed, r.recovered, f"{r.share:.0%}", ", ".join(f"{k} {v}" for k, v in r.elsewhere.items())]
                                for r in rows])]
        lines.append(f"undesigned units: {undesigned}, of which the census claimed {claimed} for a family"
                     + (f" ({claimed / undesigned:.1%})" if undesigned else ""))
    return "\n".join(lines)


def _write_parquet(results: list[LayerCensus], path: Path) -> None:
    rows = []
    for census in results:
        for k, u in enumerate(census.units):
            row = {"layer": u.layer, "unit": u.unit, "channel": u.channel, "branch": u.branch, "family": u.family,
                   "confidence": u.confidence, "note": u.note, "field_px": census.field_px}
            row.update({name: float(values[k]) for name, values in census.features.items()})
            rows.append(row)
    with atomic_target(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def _write_page(source: OpenedModel, report, evidence, path: Path) -> None:
    layers = []
    for census, counterpart, shares, found, sheets, text in report:
        others = [u for u in census.units if u.family == OTHER]
        layers.append({
            "name": census.layer, "anchor": safe_name(census.layer), "text": text,
            "sheets": [{"title": f.title, "family": f.name, "href": sheets[f.name], "rule": ", ".join(str(c) for c in f.rule),
                        "count": sum(u.family == f.name for u in census.units)} for f in FAMILY_TABLE if f.name in sheets],
            "others": [(u.unit, u.note) for u in others[:200]], "other_count": len(others)})
    families = [{"name": f.name, "rule": ", ".join(str(c) for c in f.rule), "stimuli": " ".join(f.stimuli)} for f in FAMILY_TABLE]
    write_page(path, "census.html", title="census", model=source.label, evidence_images=evidence.images if evidence else None,
               layers=layers, families=families)

