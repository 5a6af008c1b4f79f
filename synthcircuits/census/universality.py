"""Universality: several networks' censuses side by side at comparable depths.

Depth is compared by receptive-field size: each layer of the first network is paired with the
layer of every other network whose receptive field is closest in ratio (inception_3a's 59 px
with a ResNet's layer1, 43 px, rather than by position in the stack). Reads only census.json
files, so networks are censused once and compared in any combination.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..records import finite_number, read_record
from .battery import KINDS, Scale
from ..taxonomy import FAMILY_TABLE, OTHER

MAX_CENSUS_BYTES = 256 << 20  # a census of 100,000 units is about 60 MB
MAX_FIELD_PX = 100_000  # a receptive field, a window or a centre, in pixels
FAR = 2.0  # receptive fields further apart than this ratio are not "comparable depth"


@dataclass(frozen=True)
class CensusUnitEntry:
    unit: str
    family: str
    confidence: float
    best: dict[str, int]


@dataclass(frozen=True)
class CensusLayer:
    layer: str
    field_px: int
    centre: tuple[float, float]
    window: tuple[int, int]
    units: tuple[CensusUnitEntry, ...]

    def counts(self) -> Counter:
        return Counter(u.family for u in self.units)

    def best(self, family: str, count: int) -> list[CensusUnitEntry]:
        return sorted((u for u in self.units if u.family == family), key=lambda u: -u.confidence)[:count]


@dataclass(frozen=True)
class Census:
    name: str
    folder: Path
    layers: tuple[CensusLayer, ...]


class _Malformed(ValueError):
    pass


def read_census(folder: Path, name: str | None = None) -> Census:
    """A census folder's census.json, checked: a bad file is named with what is wrong."""
    path = Path(folder) / "census.json" if Path(folder).is_dir() else Path(folder)
    data = read_record(path, "census.json", MAX_CENSUS_BYTES, hint="was the census interrupted? run it again")
    try:
        if not isinstance(data, dict) or data.get("format") != 1:
            raise _Malformed("it is not a census.json of format 1 (written by `synthcircuits census`)")
        layers = tuple(_layer(raw) for raw in data["layers"])
        if not layers:
            raise _Malformed("it holds no layer")
        label = name or Path(str(data.get("model", path.parent.name)).split(" ")[0]).name
    except _Malformed as exc:
        raise UserError(f"{path}: {exc}", hint="run `synthcircuits census ... -o FOLDER` and pass FOLDER") from None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise UserError(f"{path}: a field is missing or malformed ({type(exc).__name__}: {exc})",
                        hint="run `synthcircuits census ... -o FOLDER` again and pass FOLDER") from None
    return Census(label, path.parent, layers)


def _layer(raw: dict) -> CensusLayer:
    """One layer of a census.json, every field type- and range-checked: a census's numbers drive
    pictures (a stimulus index, a window), so a lying one is refused, not drawn."""
    field_px = int(finite_number(raw["field_px"], -math.inf, math.inf))
    if not 1 <= field_px <= MAX_FIELD_PX:
        raise _Malformed(f"layer {raw['layer']!r} has a receptive field of {field_px} px")
    cx, cy = (finite_number(v, 0, MAX_FIELD_PX) for v in raw["centre"])
    lo, hi = (int(finite_number(v, 0, MAX_FIELD_PX)) for v in raw["window"])
    if lo > hi:
        raise _Malformed(f"layer {raw['layer']!r} has a window from {lo} to {hi}")
    grids: dict[str, int] = {}

    def stimulus(kind: str, row) -> int:
        if kind not in KINDS:
            raise _Malformed(f"layer {raw['layer']!r} names a stimulus kind {kind!r} the battery has not")
        if kind not in grids:
            grids[kind] = len(next(iter(KINDS[kind].grid(Scale(field_px)).values())))
        return int(finite_number(row, 0, grids[kind] - 1))

    units = tuple(CensusUnitEntry(str(u["unit"]), str(u["family"]), finite_number(u["confidence"], -1e6, 1e6),
                                  {str(k): stimulus(str(k), v) for k, v in u["best"].items()})
                  for u in raw["units"])
    return CensusLayer(str(raw["layer"]), field_px, (cx, cy), (lo, hi), units)


@dataclass(frozen=True)
class Pairing:
    """A layer of the first network and, for each other network, its layer of closest receptive field."""

    layers: tuple[CensusLayer, ...]  # one per network, the first network's first

    @property
    def comparable(self) -> bool:
        sizes = [layer.field_px for layer in self.layers]
        return max(sizes) / min(sizes) <= FAR


def pair_layers(censuses: list[Census]) -> list[Pairing]:
    first, others = censuses[0], censuses[1:]
    out = []
    for layer in first.layers:
        match = [min(c.layers, key=lambda other: abs(math.log(other.field_px / layer.field_px))) for c in others]
        out.append(Pairing((layer, *match)))
    return out


def share_table(pairing: Pairing) -> list[tuple[str, str, list[tuple[int, float]]]]:
    """(family, title, [(count, share) per network]) for every family some network has, then other."""
    counts = [layer.counts() for layer in pairing.layers]
    totals = [max(len(layer.units), 1) for layer in pairing.layers]
    rows = []
    for name, title in [(f.name, f.title) for f in FAMILY_TABLE] + [(OTHER, "fits no family")]:
        if any(c[name] for c in counts):
            rows.append((name, title, [(c[name], c[name] / t) for c, t in zip(counts, totals)]))
    return rows
