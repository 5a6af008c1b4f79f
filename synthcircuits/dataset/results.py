"""Reading a dataset-examples folder back: each unit's statistics and example rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError


@dataclass
class DatasetExamples:
    folder: Path
    stats: dict[str, dict]  # unit -> its row of units.parquet
    examples: dict[str, list[dict]]  # unit -> its rows of examples.parquet (top first, then sigma bins)

    def crop_path(self, row: dict) -> Path | None:
        return self.folder / row["crop"] if row.get("crop") else None


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
    return DatasetExamples(folder, stats, examples)
