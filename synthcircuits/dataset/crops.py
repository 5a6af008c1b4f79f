"""Receptive-field crops of dataset examples.

An example row records its box (the unit's receptive field at its strongest position, clipped
to the image); the crop itself is cut from the image when someone wants to see it: the report,
or `dataset-examples --crops`, which writes them all. A box depends on the layer and position
only, so units that peak at the same place of the same image share one crop file.

Cutting lazily is what keeps a whole-layer run about as fast as the forward: writing every
example's PNG up front (480 units x ~14 examples) took as long as half the forward on 200 images.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from itertools import groupby
from pathlib import Path

import numpy as np
from PIL import Image

from ..images import load_image
from ..layout.geometry import Geometry
from ..outputs import atomic_target
from ..threads import usable_cores

BOX = ("crop_top", "crop_left", "crop_bottom", "crop_right")


def add_boxes(rows: Sequence[dict], geometry: Geometry, size: int) -> None:
    """Give each example row its crop box (inclusive pixel bounds inside the image)."""
    for row in rows:
        if geometry.knows(row["layer"]):
            top, bottom = (min(max(v, 0), size - 1) for v in geometry.input_span(row["layer"], row["y"]))
            left, right = (min(max(v, 0), size - 1) for v in geometry.input_span(row["layer"], row["x"]))
            row.update(crop_top=top, crop_left=left, crop_bottom=bottom, crop_right=right)


def crop_name(row: dict) -> str:
    return f"crops/{row['layer']}/{row['item']:06d}_{row['y']:03d}_{row['x']:03d}.png"


def cut(pixels: np.ndarray, row: dict) -> np.ndarray:
    top, left, bottom, right = (row[k] for k in BOX)
    return pixels[top : bottom + 1, left : right + 1]


def image_pixels(path: Path, size: int) -> np.ndarray:
    """An image as the run read it ([size, size, 3] uint8); a UserError if it cannot be read."""
    return (load_image(path, size).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_crops(rows: list[dict], image_paths: Sequence[Path | None], size: int, output: Path) -> int:
    """Write every row's crop under `output/crops/` (one file per distinct box, each image decoded
    once, encoded on every core) and record its name in the row. Rows of images that are no
    file (rows of a .npy batch) get no crop. Returns the number of files written."""
    boxed = [r for r in rows if "crop_top" in r and image_paths[r["item"]] is not None]
    by_image = [(item, list(group)) for item, group in groupby(sorted(boxed, key=lambda r: r["item"]), key=lambda r: r["item"])]

    def one_image(job: tuple[int, list[dict]]) -> int:
        item, group = job
        pixels = image_pixels(image_paths[item], size)
        written = 0
        for name, same in groupby(sorted(group, key=crop_name), key=crop_name):
            with atomic_target(output / name) as tmp:
                tmp.write_bytes(png_bytes(cut(pixels, row := next(same))))
            written += 1
            for r in (row, *same):
                r["crop"] = name
        return written

    # PIL and zlib release the GIL. Each task runs in a copy of this context, so its files join
    # the command's transaction (all outputs or none) as they would in this thread.
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        return sum(f.result() for f in [pool.submit(copy_context().run, one_image, job) for job in by_image])
