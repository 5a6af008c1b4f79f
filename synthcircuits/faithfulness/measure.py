"""One faithfulness measurement: both runner passes over the images, then the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from ..dataset.items import Item
from ..dataset.runner import failures, read_shards, run_and_read
from ..dataset.shards import RunOptions
from ..edit.splice import SideCircuit
from ..errors import UserError
from ..labels import labels_for
from ..layout.address import UnitAddress, parse_unit
from ..layout.topology import fed_layer, pre_activation_point
from .jobs import MeansJob, VariantsJob
from .measures import per_image, summarise, trained_hits
from .report import FaithfulnessReport, UnitFigures
from .variants import SplicedRuns, variants_for


def measure_faithfulness(trained: nn.Module, side: SideCircuit, items: Sequence[Item], folder: Path | None = None,
                         options: RunOptions = RunOptions(), ray: str | None = None, per_unit: bool = True,
                         weights_label: str = "the trained network") -> FaithfulnessReport:
    """Run the trained network, the units silenced, mean-ablated and spliced from `side` (and,
    with `per_unit`, each unit alone) over `items`; shards under `folder` (resumable), else in
    a temporary folder."""
    arch = trained.architecture
    units = slot_order([parse_unit(u, arch) for u in side.units])
    layer = units[0].layer
    following = fed_layer(arch, layer)
    readout = following.name if following is not None else arch.classifier
    runs = SplicedRuns(trained, side.module(arch.name), side.paths, units, readout)
    means_rows = run_and_read(MeansJob(runs), items, _sub(folder, "means"), options,
                              lambda paths: (_rows(paths, "unit_means"), failures(paths, items)), ray=ray)
    rows, skipped = means_rows
    if not len(rows):
        shown = ", ".join(f"{name} ({why})" for name, why in skipped[:3])
        raise UserError(f"none of the {len(items)} images could be read: {shown}{' ...' if len(skipped) > 3 else ''}",
                        hint="give a folder of images PIL can open (JPEG, PNG, ...)")
    means = rows.mean(0)
    variants = variants_for(len(units), per_unit)
    _, valid = labels_for(arch.name)
    arrays = run_and_read(VariantsJob(runs, variants, means, valid), items, _sub(folder, "variants"), options,
                          lambda paths: _arrays(paths), ray=ray)
    labels = _labels(arrays["index"], items)
    per = {v.name: per_image(arrays, v.name, labels) for v in variants}
    hits = trained_hits(arrays, labels) if labels is not None else None
    comparisons = [("zero", "circuit", "zero"), ("mean", "circuit", "mean")]
    comparisons += [(f"u{j}", f"u{j}.circuit", f"u{j}.mean") for j in range(len(units)) if per_unit]
    measures, recovered = summarise(per, arrays["readout.count"], hits, comparisons)
    changes = {name: int((~p.agree).sum()) for name, p in per.items()}
    figures = [UnitFigures(str(u), float(means[j]), {s: changes[f"u{j}.{s}"] for s in ("mean", "circuit")},
                           {s: measures[f"u{j}.{s}"] for s in ("mean", "circuit")}, recovered[f"u{j}"])
               for j, u in enumerate(units)] if per_unit else []
    return FaithfulnessReport(
        side.label, weights_label, layer, [str(u) for u in units], side.describe(), readout, len(arrays["index"]), labels is not None,
        {"trained": 0, **{k: v for k, v in changes.items() if "." not in k}},
        {"trained": measures.get("trained", {}), **{k: v for k, v in measures.items() if k in ("zero", "mean", "circuit")}},
        {"zero": recovered["zero"], "mean": recovered["mean"]}, figures, skipped)


def slot_order(units: Sequence[UnitAddress]) -> list[UnitAddress]:
    """Units grouped by pre-activation point in order of first appearance (the side paths' order)."""
    points = list(dict.fromkeys(pre_activation_point(u) for u in units))
    return [u for point in points for u in units if pre_activation_point(u) == point]


def _sub(folder: Path | None, name: str) -> Path | None:
    return None if folder is None else Path(folder) / "runs" / name


def _rows(paths, key: str) -> np.ndarray:
    found = [shard[key] for shard in read_shards(paths) if len(shard["index"])]
    return np.concatenate(found) if found else np.zeros((0, 0))


def _arrays(paths) -> dict[str, np.ndarray]:
    shards = [shard for shard in read_shards(paths) if len(shard["index"])]
    keys = [k for k in shards[0] if not k.startswith(("failed.", "item."))]
    return {k: np.concatenate([s[k] for s in shards]) for k in keys}


def _labels(index: np.ndarray, items: Sequence[Item]) -> np.ndarray | None:
    labels = [items[int(i)].label for i in index]
    return np.array(labels) if labels and all(label is not None for label in labels) else None
