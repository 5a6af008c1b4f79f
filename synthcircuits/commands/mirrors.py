"""`synthcircuits mirrors LAYER[,LAYER...]`: every unit's mirror partner, the unit whose answers to
left-right flipped inputs best match its answers to the originals, over the census battery drawn
for each layer (default) or an image folder through the dataset runner (`--images`).

Prints, per layer, how many units are in mirror pairs, their own mirror, one-way or silent, and
the strongest pairs; writes mirrors.json (every unit), mirrors.md (the tables) and a contact
sheet per layer (sheets/<layer>.png: each pair's strongest inputs and their flips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..census.battery import KINDS, Scale
from ..dataset.items import Item, list_items
from ..dataset.runner import RunOptions, failures, read_shards, run_job
from ..folder_lock import locked_folder
from ..images import load_image, load_npy
from ..opened import OpenedModel
from ..outputs import atomic_target, make_folders, safe_name
from ..symmetry import LayerMirrors, MirrorUnit, counts, mirror_partners, pairs
from ..probe.tuning import ProbeUnit
from ..symmetry.answers import MirrorJob, battery_batches, battery_picture, battery_size, centre_answers, mirror_safe_side
from ..symmetry.sheet import pairs_sheet
from ..tables import format_table
from .common import model_options
from ..jsontext import strict_json

FORMAT = 1
SHOWN = 15  # pairs in the printed table
SHEET_PAIRS = 12


def run_mirrors(layers_text: str, weights: Path | None, spec: Path | None, architecture: str | None, output: Path, device: str,
                images: Path | None = None, limit: int | None = None, ray: str | None = None) -> int:
    source = model_options(weights, spec, device, architecture)
    layers = source.spatial_layers(layers_text, "synthcircuits mirrors inception_4a,inception_4b --weights bvlc.safetensors")
    items = list_items(images, None, source.architecture.name, limit) if images is not None else None
    side, exact = mirror_safe_side(source.geometry(), layers)
    if not exact:
        print(f"note: no input side near 224 px puts every position of {', '.join(layers)} symmetrically about the centre; "
              "flipped answers are compared at the nearest positions")
    with locked_folder(output):
        make_folders(output)
        skipped: list[tuple[str, str]] = []
        if items is not None:
            found, skipped = _from_images(source, layers, items, output, device, ray, side)
        else:
            found = _from_battery(source, layers, side)
        return _report(source, found, output, items, side, skipped)


def _from_battery(source: OpenedModel, layers: list[str], side: int) -> list[LayerMirrors]:
    geometry, found = source.geometry(), []
    for layer in layers:  # each layer sees the battery drawn for its own receptive field
        width = source.layer_width(layer)
        units = [ProbeUnit(source.name_of(layer, c), layer, c) for c in range(width)]
        mirrors = LayerMirrors(layer, width, side)
        with tqdm(total=battery_size(geometry, layer), desc=f"mirrors {layer}", unit="stimulus", leave=False) as bar:
            for kind, rows, batch in battery_batches(geometry, layer, side):
                a, b = centre_answers(source.model, units, batch)
                mirrors.add(a, b, [("stimulus", kind, r) for r in rows])
                bar.update(len(batch))
        found.append(mirrors)
    return found


def _from_images(source: OpenedModel, layers: list[str], items: list[Item], output: Path, device: str, ray: str | None,
                 side: int) -> tuple[list[LayerMirrors], list[tuple[str, str]]]:
    """Every layer's statistics over the images, and the images that could not be read (and why)."""
    paths = run_job(MirrorJob(source.model, layers), items, output / "answers", RunOptions(device=device, size=side), ray=ray)
    found = [LayerMirrors(layer, source.layer_width(layer), side) for layer in layers]
    for shard in read_shards(paths):
        if not len(shard["index"]):
            continue
        for mirrors in found:
            a, b = shard[f"{mirrors.layer}.original"], shard[f"{mirrors.layer}.flipped"]  # (images, positions, units)
            inputs = [("image", int(i)) for i in shard["index"] for _ in range(a.shape[1])]
            mirrors.add(a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1]), inputs)
    return found, failures(paths, items)


def _strongest_input(source: OpenedModel, mirrors: LayerMirrors, items: list[Item] | None):
    geometry, channel_of = source.geometry(), {source.name_of(mirrors.layer, c): c for c in range(source.layer_width(mirrors.layer))}

    def strongest(unit: str):
        channel = channel_of[unit]
        what, value = mirrors.best_input[channel], mirrors.best_value[channel]
        if what[0] == "stimulus":
            _, kind, row = what
            scale, side = Scale(int(geometry.span(mirrors.layer).size)), mirrors.side
            image = battery_picture(KINDS[kind], KINDS[kind].grid(scale), [row], scale, side)[0]
            half = min(side, scale.field_px) // 2  # the receptive field around the centre, where the stimulus is
            image = image[:, side // 2 - half : side // 2 + half + 1, side // 2 - half : side // 2 + half + 1]
            return image, f"{kind} #{row}: {value:.3g}"
        item = items[what[1]]
        image = load_npy(item.path)[item.row] if item.row is not None else load_image(item.path, mirrors.side)
        return image, f"{item.name}: {value:.3g}"
    return strongest


def _report(source: OpenedModel, found: list[LayerMirrors], output: Path, items: list[Item] | None, side: int,
            skipped: list[tuple[str, str]]) -> int:
    summary = {"format": FORMAT, "synthcircuits": __version__, "model": source.label, "side": side,
               "skipped": [{"image": name, "reason": reason} for name, reason in skipped],
               "inputs": f"{len(items)} images and their flips" if items is not None else "the census battery and its flips", "layers": []}
    texts = []
    for mirrors in found:
        layer = mirrors.layer
        names = [source.name_of(layer, c) for c in range(source.layer_width(layer))]
        live = mirrors.statistics.live()
        units = mirror_partners(mirrors.statistics.correlation(), names, range(len(names)), live)
        found_pairs = pairs(units)
        sheet = pairs_sheet(found_pairs[:SHEET_PAIRS], _strongest_input(source, mirrors, items), output / "sheets" / f"{safe_name(layer)}.png")
        what = (f"{mirrors.inputs} images ({mirrors.statistics.n // max(mirrors.inputs, 1)} positions each)" if items is not None
                else f"{mirrors.inputs} stimuli")
        text = _layer_text(layer, units, found_pairs, what)
        print(text + "\n")
        texts.append(text)
        summary["layers"].append({"layer": layer, "inputs": mirrors.inputs, "samples": mirrors.statistics.n, "counts": counts(units),
                                  "pairs": [[a.unit, b.unit, a.correlation] for a, b in found_pairs],
                                  "sheet": str(sheet.relative_to(output)) if sheet else None, "units": [u.as_json() for u in units]})
    with atomic_target(output / "mirrors.json") as tmp:
        tmp.write_text(strict_json(summary, indent=1))
    with atomic_target(output / "mirrors.md") as tmp:
        tmp.write_text("\n\n".join(f"```\n{t}\n```" for t in texts) + "\n")
    if skipped:
        print(f"{len(skipped)} images could not be read and were skipped (listed in mirrors.json)")
    print(f"saved {output / 'mirrors.json'}, mirrors.md and contact sheets under {output / 'sheets'}")
    return 0


def _layer_text(layer: str, units: list[MirrorUnit], found_pairs, inputs: str) -> str:
    c = counts(units)
    live = [u for u in units if u.kind != "silent"]
    head = (f"{layer}: {len(units)} units over {inputs} and their left-right flips: {c['pair']} in {c['pair'] // 2} mirror pairs, "
            f"{c['self']} their own mirror, {c['one-way']} one-way, {c['silent']} silent")
    rows = [[a.unit, b.unit, a.correlation, a.self_correlation, b.self_correlation, min(a.margin, b.margin)] for a, b in found_pairs[:SHOWN]]
    table = format_table(["unit A", "mirror partner B", "r(A, B on flips)", "r(A, A on flips)", "r(B, B on flips)", "margin"], rows)
    invariant = sorted((u for u in live if u.kind == "self"), key=lambda u: -u.self_correlation)[:5]
    most = ", ".join(f"{u.unit} ({u.self_correlation:.3f})" for u in invariant) or "none"
    return f"{head}\n\n{table}\n\nmost left-right invariant (their own mirror): {most}"
