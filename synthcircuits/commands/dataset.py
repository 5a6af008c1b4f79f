"""`synthcircuits dataset-examples`: the images (and receptive-field crops) that excite units most,
activation statistics over a dataset, and sigma-binned examples, written as Parquet + PNGs."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..dataset.crops import add_boxes, write_crops
from ..dataset.examples import QUANTILES, ExamplesJob, LayerUnits, UnitSummary, summarise
from ..dataset.items import list_items, read_class_map
from ..dataset.runner import RunOptions, failures, run_job
from ..errors import UserError
from ..folder_lock import locked_folder
from ..opened import OpenedModel
from ..outputs import atomic_target
from .common import open_model


def run_dataset_examples(source_path: Path, images: Path, units_text: str, output: Path, top: int, bins: int, per_bin: int,
                         limit: int | None, batch_size: int, workers: int, shard_size: int, size: int, device: str,
                         architecture: str | None, class_map: Path | None, crops: bool, ray: str | None = None) -> int:
    source = open_model(source_path, device, architecture)
    layers = units_of(source, units_text)
    items = list_items(images, read_class_map(class_map) if class_map else None, source.architecture.name, limit)
    options = RunOptions(batch_size=batch_size, workers=workers, shard_size=shard_size, size=size, device=device)
    with locked_folder(output):  # the shards, then the tables and crops: one writer from first to last
        return _examples(source, layers, items, options, output, top, bins, per_bin, size, crops, ray)


def _examples(source: OpenedModel, layers: list[LayerUnits], items: list, options: RunOptions, output: Path, top: int, bins: int,
              per_bin: int, size: int, crops: bool, ray: str | None) -> int:
    paths = run_job(ExamplesJob(source.model, layers), items, output, options, ray=ray)
    summaries = summarise(paths, layers, top=top, bins=bins, per_bin=per_bin)
    bad = failures(paths, items)
    rows = [dict(row, image=items[row["item"]].name) for s in summaries for row in s.examples]
    add_boxes(rows, source.geometry(), size)
    if crops:
        write_crops(rows, [item.path if item.row is None else None for item in items], size, output)
    _write_table(_unit_rows(summaries), output / "units.parquet")
    _write_table(rows, output / "examples.parquet", EXAMPLE_COLUMNS)
    _write_table([{"image": name, "reason": reason} for name, reason in bad], output / "failures.parquet", {"image": pa.string(), "reason": pa.string()})
    units = sum(len(layer.channels) for layer in layers)
    print(f"{len(items) - len(bad)} images read, {len(bad)} skipped (listed in failures.parquet); {units} units")
    print(f"saved {output / 'units.parquet'}, {output / 'examples.parquet'}" + (f" and crops under {output / 'crops'}" if crops else
          " (each example's crop box; the report cuts crops from the images, --crops writes them all now)"))
    return 0


def units_of(source: OpenedModel, text: str) -> list[LayerUnits]:
    """`mixed3b` (every unit of the layer) and/or addresses such as `mixed3b:379`, grouped by layer."""
    wanted: dict[str, list[tuple[int, str]]] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ":" in part:
            unit = source.parse_unit(part)
            wanted.setdefault(unit.layer, []).append((source.channel_of(unit), str(unit)))
        else:
            if not source.architecture.has_layer(part):
                raise UserError(f"{source.label} ({source.architecture.name}) has no layer {part!r}",
                                hint=f"`synthcircuits layers --arch {source.architecture.name}` lists them")
            layer = source.architecture.layer(part)
            wanted.setdefault(layer.name, []).extend((c, f"{layer.name}:{c}") for c in range(layer.channels))
    if not wanted:
        raise UserError("--units names no units", hint="e.g. --units mixed3b (a whole layer) or mixed3b:379,mixed3b:385")
    layers = []
    for layer, pairs in wanted.items():
        unique = list(dict.fromkeys(pairs))
        layers.append(LayerUnits(layer, tuple(c for c, _ in unique), tuple(n for _, n in unique)))
    return layers


EXAMPLE_COLUMNS = {
    "layer": pa.string(), "channel": pa.int64(), "unit": pa.string(), "kind": pa.string(), "bin": pa.int64(),
    "rank": pa.int64(), "item": pa.int64(), "image": pa.string(), "activation": pa.float64(), "sigma": pa.float64(),
    "y": pa.int64(), "x": pa.int64(), "crop_top": pa.int64(), "crop_left": pa.int64(), "crop_bottom": pa.int64(),
    "crop_right": pa.int64(), "crop": pa.string(),
}


def _unit_rows(summaries: list[UnitSummary]) -> list[dict]:
    rows = []
    for s in summaries:
        for u, (channel, name) in enumerate(zip(s.layer.channels, s.layer.names)):
            row = {"layer": s.layer.layer, "channel": channel, "unit": name, "images": int(s.count[u]), "mean": float(s.mean[u]),
                   "std": float(s.std[u]), "min": float(s.minimum[u]), "max": float(s.maximum[u])}
            row.update({f"q{round(q * 100):02d}": float(s.quantiles[k, u]) for k, q in enumerate(QUANTILES)})
            rows.append(row)
    return rows


def _write_table(rows: list[dict], path: Path, schema: dict | None = None) -> None:
    if schema is not None:
        rows = [{key: row.get(key) for key in schema} for row in rows]
        table = pa.Table.from_pylist(rows, schema=pa.schema(schema)) if rows else pa.table({k: pa.array([], t) for k, t in schema.items()})
    else:
        table = pa.Table.from_pylist(rows)
    with atomic_target(path) as tmp:
        pq.write_table(table, tmp)
