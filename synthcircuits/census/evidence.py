"""Dataset evidence for a census or an atlas (`--images`): one runner pass over the images for
every layer, then each unit's strongest dataset answer and its example rows (top, and sampled
by how many standard deviations above the mean they answer), each with its receptive-field crop
handed to a `keep` callback as it is cut (each image decoded once), so no crop sits in memory
longer than its callback holds it.

The shards sit in the output folder (`examples/`), so an interrupted run resumes the pass, and
a re-run with the same images reads them back without a forward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np

from ..dataset.crops import add_boxes, cut, image_pixels
from ..dataset.examples import ExamplesJob, LayerUnits, summarise
from ..dataset.items import Item
from ..dataset.runner import RunOptions, run_job
from ..layout.geometry import Geometry


@dataclass
class DatasetEvidence:
    maximum: dict[str, float]  # unit name -> its largest activation over the images
    rows: dict[str, list[dict]]  # unit name -> its example rows (kind top/sigma, rank, bin, activation, sigma, image), best first
    kept: dict[str, list]  # unit name -> what `keep` returned for each of its rows, in row order (None: no crop, e.g. a .npy row)
    images: int


def gather(model, geometry: Geometry, layers: Sequence[LayerUnits], items: Sequence[Item], folder: Path, options: RunOptions,
           ray: str | None = None, top: int = 3, bins: int = 1, per_bin: int = 0,
           keep: Callable[[dict, np.ndarray], object] = lambda row, pixels: pixels) -> DatasetEvidence:
    paths = run_job(ExamplesJob(model, layers), items, folder, options, ray=ray)
    summaries = summarise(paths, layers, top=top, bins=bins, per_bin=per_bin)
    maximum = {name: float(s.maximum[k]) for s in summaries for k, name in enumerate(s.layer.names)}
    rows = [dict(r, image=items[r["item"]].name) for s in summaries for r in s.examples]
    add_boxes(rows, geometry, options.size)
    kept: dict[int, object] = {}
    for item, group in groupby(sorted(range(len(rows)), key=lambda k: rows[k]["item"]), key=lambda k: rows[k]["item"]):
        if items[item].row is not None:  # a .npy batch row: no file to cut from
            continue
        pixels = image_pixels(items[item].path, options.size)
        for k in group:
            if "crop_top" in rows[k]:
                kept[k] = keep(rows[k], cut(pixels, rows[k]))
    by_unit: dict[str, list[int]] = {}
    for k, row in enumerate(rows):
        by_unit.setdefault(row["unit"], []).append(k)
    order = {name: sorted(ks, key=lambda k: (rows[k]["kind"] != "top", rows[k]["bin"], rows[k]["rank"])) for name, ks in by_unit.items()}
    count = int(summaries[0].count[0]) if summaries and len(summaries[0].count) else 0
    return DatasetEvidence(maximum, {n: [rows[k] for k in ks] for n, ks in order.items()},
                           {n: [kept.get(k) for k in ks] for n, ks in order.items()}, count)
