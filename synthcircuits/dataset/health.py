"""The state of a runner's output folder, read without changing it: what `synthcircuits doctor`
prints. Its job record, its lock, every shard checked against its checksum, the images of the
finished shards checked against the files now, and the tables the job's command writes last."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..folder_lock import Holder, lock_is_held, read_holder
from ..invocation import rerun_text
from .ledger import ShardCheck, changed_items, check_shards
from .runner import read_job_record, recorded_layout
from .shards import shards_of

# The tables each kind of job's command writes once every shard is done, beside shards/.
TABLES = {"dataset-examples": ("units.parquet", "examples.parquet", "failures.parquet")}


@dataclass
class FolderHealth:
    folder: Path
    record: dict
    check: ShardCheck
    changed: list[str]
    holder: Holder | None
    held: bool
    tables: dict[str, str] = field(default_factory=dict)  # file -> "whole", "missing" or why it cannot be read

    @property
    def complete(self) -> bool:
        return not (self.check.todo() or self.changed or self.held) and all(v == "whole" for v in self.tables.values())

    def report(self) -> str:
        r, c = self.record, self.check
        lines = [f"{self.folder}: a {r['job'].get('kind', '?')} job over {r['items']} images, in {len(c.whole) + len(c.todo())} "
                 f"shards of {r['shard_size']} at {r['size']} px (made {r.get('created', '?')} on {r.get('host', '?')})"]
        if self.held:
            lines.append(f"lock:   held now by {self.holder.describe() if self.holder else 'a running process'}")
        elif self.holder:
            lines.append(f"lock:   left by {self.holder.describe()}, no longer running; the next run takes it over")
        parts = [f"{len(c.whole)} whole"] + [f"{len(v)} {k} ({', '.join(f'{s.number:05d}' for s in v[:8])})"
                                             for k, v in (("damaged", c.damaged), ("unfinished", c.unfinished), ("missing", c.missing)) if v]
        lines.append("shards: " + ", ".join(parts) + (f"; {len(c.leftovers)} temp file(s) of an unfinished write" if c.leftovers else ""))
        lines.append(f"images: {len(self.changed)} changed since their shards read them: {', '.join(self.changed[:5])}"
                     if self.changed else "images: every image of the whole shards is as it was read")
        if self.tables:
            lines.append("tables: " + ", ".join(f"{name} {state}" for name, state in self.tables.items()))
        return "\n".join(lines)

    def advice(self) -> str:
        resume = rerun_text(self.record.get("command") or ["synthcircuits", "...the command that made it..."])
        if self.held:
            return "a run is writing this folder now; look again when it has finished"
        if self.changed:
            return "images were replaced since they were read: restore them to resume, or start over in a new folder"
        if self.complete:
            return "whole: every shard matches its checksum and every table is there"
        return f"to finish it (only what is missing or damaged is computed), run: {resume}"


def inspect_folder(folder: str | Path) -> FolderHealth:
    folder = Path(folder)
    record = read_job_record(folder, strict=(folder / "job.json").exists())  # a damaged job.json is named at its line and column
    if record is None or not (folder / "shards").is_dir():
        raise UserError(f"{folder}: not the output folder of a dataset run (no readable job.json and shards/)",
                        hint="name the -o folder of dataset-examples, or the --shards folder of edit or patch")
    items, shard_size, _ = recorded_layout(folder)
    if not isinstance(record.get("job"), dict):
        raise UserError(f"{folder / 'job.json'}: it names no job", hint="start over in a new folder")
    shards = shards_of(items, shard_size)
    check = check_shards(folder, shards)
    tables = {name: _table_state(folder / name) for name in TABLES.get(record["job"].get("kind"), ())}
    return FolderHealth(folder, record, check, changed_items(folder, check.whole), read_holder(folder), lock_is_held(folder), tables)


def _table_state(path: Path) -> str:
    if not path.is_file():
        return "missing"
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (OSError, ValueError) as exc:
        return f"unreadable ({str(exc).splitlines()[0]})"
    return "whole"
