"""Dataset evidence for a census (`--images`): one runner pass over the images for every layer,
each unit's strongest dataset answer and its top receptive-field crops.

The shards sit in the census folder's `examples/`, so an interrupted census resumes the pass,
and a census re-run with the same images reads them back without a forward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np

from ..dataset.crops import add_boxes, cut, image_pixels
from ..dataset.examples import ExamplesJob, LayerUnits, summarise
from ..dataset.items import Item
from ..dataset.runner import RunOptions, run_job
from ..layout.geometry import Geometry

TOP = 3


@dataclass
class DatasetEvidence:
    maximum: dict[str, float]  # unit name -> its largest activation over the images
    crops: dict[str, list[np.ndarray]]  # unit name -> its top crops, strongest first
    images: int


def gather(model, geometry: Geometry, layers: Sequence[LayerUnits], items: Sequence[Item], folder: Path, options: RunOptions,
           ray: str | None = None) -> DatasetEvidence:
    paths = run_job(ExamplesJob(model, layers), items, folder, options, ray=ray)
    summaries = summarise(paths, layers, top=TOP, bins=1, per_bin=0)
    maximum = {name: float(s.maximum[k]) for s in summaries for k, name in enumerate(s.layer.names)}
    rows = [r for s in summaries for r in s.examples if r["kind"] == "top"]
    add_boxes(rows, geometry, options.size)
    crops: dict[str, list[tuple[int, np.ndarray]]] = {}
    for item, group in groupby(sorted(rows, key=lambda r: r["item"]), key=lambda r: r["item"]):
        if items[item].row is not None:  # a .npy batch row: no file to cut from
            continue
        pixels = image_pixels(items[item].path, options.size)
        for row in group:
            if "crop_top" in row:
                crops.setdefault(row["unit"], []).append((row["rank"], cut(pixels, row)))
    ordered = {unit: [c for _, c in sorted(found, key=lambda x: x[0])] for unit, found in crops.items()}
    return DatasetEvidence(maximum, ordered, int(summaries[0].count[0]) if summaries and len(summaries[0].count) else 0)
