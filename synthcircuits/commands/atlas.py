"""`synthcircuits atlas --layers L1,L2,...`: every unit of the chosen layers on a static,
searchable site: a grid per layer coloured by census family, and a page per unit with its
feature visualisations, tuning, dataset examples and strongest weights in and out, each a link.

Planned per layer: one census battery pass, one weight expansion, feature visualisations in
batches; with --images one runner pass over the images for every layer. Pictures are written
as they are drawn and named by what they show, so an interrupted build continues and a larger
one draws only what is missing; the pages are written together at the end."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..atlas.assets import Assets
from ..atlas.pictures import VisSettings, draw_family_pictures, draw_visualisations
from ..atlas.plan import AtlasLayer, plan_atlas
from ..atlas.site import UnitView, write_site
from ..atlas.weights import unit_links
from ..census.evidence import DatasetEvidence, gather
from ..census.layer import census_layer
from ..dataset.examples import LayerUnits
from ..dataset.items import Item, list_items
from ..dataset.runner import RunOptions
from ..folder_lock import locked_folder
from ..models.weights import content_hash
from ..opened import OpenedModel
from ..outputs import make_folders
from ..limits import check_network_input
from .common import model_options

TOP, BINS, PER_BIN = 6, 5, 1  # dataset examples per unit: the strongest, and one per sigma bin
CROP_SIDE = 64  # crops larger than this are stored shrunk: thumbnails stay small


def run_atlas(weights: Path | None, spec: Path | None, architecture: str | None, layers_text: str, output: Path, device: str,
              vis_steps: int, vis_size: int, diverse: int, images: Path | None = None, limit: int | None = None,
              ray: str | None = None) -> int:
    if vis_steps:  # the largest batch the atlas optimises at once, refused before any work if it cannot fit
        check_network_input(max(1, diverse), vis_size, vis_size, f"a feature visualisation batch of {max(1, diverse)} image(s)",
                            backward=True, hint="pass a smaller --vis-size or --diverse")
    source = model_options(weights, spec, device, architecture)
    layers = plan_atlas(source, layers_text)
    items = list_items(images, None, source.architecture.name, limit) if images is not None else None
    with locked_folder(output):  # one build writes a folder: a second is refused, naming this one
        return _atlas(source, layers, output, device, VisSettings(vis_steps, vis_size, diverse), items, ray)


def _atlas(source: OpenedModel, layers: list[AtlasLayer], output: Path, device: str, settings: VisSettings, items: list[Item] | None,
           ray: str | None) -> int:
    started = time.perf_counter()
    make_folders(output)
    assets = Assets(output, content_hash(source.model.state_dict()))
    evidence = _evidence(source, layers, items, output, device, ray, assets) if items is not None else None
    censuses = {layer.name: census_layer(source.model, source.geometry(), layer.name, [u.channel for u in layer.units],
                                         [u.name for u in layer.units], [u.branch for u in layer.units], progress=True)
                for layer in layers}
    silent = {(c.layer, u.channel) for c in censuses.values() for u in c.units if u.note.startswith("silent")}
    vis = draw_visualisations(source, layers, assets, settings, silent)
    links = unit_links(source, layers)
    views = {}
    for layer in layers:
        census = censuses[layer.name]
        pictures = draw_family_pictures(census, assets)
        for unit, row in zip(layer.units, census.units):
            examples = list(zip(evidence.rows.get(unit.name, []), evidence.kept.get(unit.name, []))) if evidence else []
            views[(unit.layer, unit.channel)] = UnitView(unit, row, vis[(unit.layer, unit.channel)], pictures.get(unit.channel, {}),
                                                         links[(unit.layer, unit.channel)], examples)
    title = f"Atlas of {Path(source.label.split(' ')[0]).name}"
    write_site(output, title, source.label, layers, views, evidence.images if evidence else None)
    count = sum(len(layer.units) for layer in layers)
    print(f"{count} units over {len(layers)} layers; {assets.drawn} pictures drawn, the rest found in {output / 'assets'}; "
          f"{time.perf_counter() - started:.0f} s")
    print(f"saved {output / 'index.html'} (open it in a browser; the folder can be moved or zipped)")
    return 0


def _evidence(source: OpenedModel, layers: list[AtlasLayer], items: list[Item], output: Path, device: str, ray: str | None,
              assets: Assets) -> DatasetEvidence:
    """One runner pass for every layer; the crops saved as pictures, each once."""
    unit_lists = [LayerUnits(layer.name, tuple(u.channel for u in layer.units), tuple(u.name for u in layer.units)) for layer in layers]
    identity = hashlib.sha256("\n".join(f"{i.name}" for i in items).encode() + "|".join(l.name for l in layers).encode()).hexdigest()[:12]

    def keep(row: dict, pixels) -> str:
        href = assets.href("crop", [row["image"], row["layer"], row["y"], row["x"]])
        if not assets.has(href):
            assets.write(href, _shrunk(pixels))
        return href

    return gather(source.model, source.geometry(), unit_lists, items, output / "examples" / identity, RunOptions(device=device), ray,
                  top=TOP, bins=BINS, per_bin=PER_BIN, keep=keep)


def _shrunk(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape[:2]
    if max(h, w) <= CROP_SIDE:
        return pixels
    scale = CROP_SIDE / max(h, w)
    return np.asarray(Image.fromarray(pixels).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))
