"""Reading a dataset-examples folder back: each unit's statistics and example rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserError
from .crops import cut, image_pixels, png_bytes
from .runner import recorded_layout


@dataclass
class DatasetExamples:
    folder: Path
    stats: dict[str, dict]  # unit -> its row of units.parquet
    examples: dict[str, list[dict]]  # unit -> its rows of examples.parquet (top first, then sigma bins)
    size: int = 224  # the size the run read its images at (its job.json)
    _pixels: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # the last image cut from

    def crop_png(self, row: dict) -> bytes | None:
        """The example's receptive-field crop as PNG bytes: the file `--crops` wrote, else cut from
        the image now. None where neither can be had (an image moved away, a row of a .npy batch)."""
        if row.get("crop") and (self.folder / row["crop"]).is_file():
            return (self.folder / row["crop"]).read_bytes()
        if row.get("crop_top") is None or not Path(row["image"]).is_file():
            return None
        if row["image"] not in self._pixels:
            try:
                self._pixels = {row["image"]: image_pixels(Path(row["image"]), self.size)}
            except UserError:
                return None
        return png_bytes(cut(self._pixels[row["image"]], row))


def read_dataset_examples(folder: str | Path) -> DatasetExamples:
    import pyarrow.parquet as pq

    folder = Path(folder)
    try:
        stats = {r["unit"]: r for r in pq.read_table(folder / "units.parquet").to_pylist()}
        rows = pq.read_table(folder / "examples.parquet").to_pylist()
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{folder}: not a dataset-examples folder ({str(exc).splitlines()[0]})",
                        hint="make one with `synthcircuits dataset-examples ... -o FOLDER`") from None
    examples: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["kind"] != "top", r["bin"], r["rank"])):
        examples.setdefault(row["unit"], []).append(row)
    return DatasetExamples(folder, stats, examples, recorded_layout(folder)[2])
