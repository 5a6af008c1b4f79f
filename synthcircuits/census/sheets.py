"""Contact sheets: a PNG per family and layer, one row per member, most confident first. A row
shows the unit's name, confidence and defining numbers, its strongest stimulus of each kind
the family reads (cut to the receptive field), its tuning over the first kind's orientations,
and, where given, its feature visualisation and its strongest dataset crops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..outputs import atomic_target
from ..taxonomy import UnitFamily
from .battery import KINDS, Scale, render
from .classify import CensusUnit
from .features import by
from .layer import LayerCensus

CELL = 72
LABEL = 230
ROWS = 16


def stimulus_picture(kind: str, grid: Mapping[str, np.ndarray], row: int, field_px: int, centre: tuple[float, float],
                     window: tuple[int, int]) -> np.ndarray:
    """The stimulus at `row` of `kind`'s grid, cut to the receptive field window: (h, w, 3) uint8."""
    image = render(KINDS[kind], dict(grid), [row], Scale(field_px), centre)[0]
    lo, hi = window
    crop = image[:, lo : hi + 1, lo : hi + 1].clamp(0, 1)
    return (crop.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _cell(picture: np.ndarray) -> Image.Image:
    return Image.fromarray(picture).resize((CELL - 4, CELL - 4), Image.NEAREST if picture.shape[0] < CELL // 2 else Image.BILINEAR)


def tuning_chart(angles: np.ndarray, values: np.ndarray, width: int = 180, height: int = 90, labels: bool = True) -> np.ndarray:
    """A unit's answer over orientation, normalised to its peak; `labels` marks the angle range."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, bottom, top = 4, height - (14 if labels else 4), 6
    draw.line([(left, bottom), (width - 4, bottom)], fill=(170, 170, 170))
    peak = float(values.max())
    if peak > 0 and len(angles) > 1:
        span = float(angles.max() - angles.min()) or 1.0
        xs = left + (angles - angles.min()) / span * (width - 8)
        ys = bottom - values / peak * (bottom - top)
        draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(200, 40, 40), width=2)
    if labels:
        draw.text((left, bottom + 2), f"{angles.min():.0f}", fill=(90, 90, 90))
        draw.text((width - 30, bottom + 2), f"{angles.max():.0f} deg", fill=(90, 90, 90))
    return np.asarray(image)


def _label(unit: CensusUnit) -> list[str]:
    numbers = [f"{k} {v:.3g}" for k, v in unit.numbers.items() if k != "peak"]
    lines = [f"{unit.unit}" + (f" ({unit.branch})" if unit.branch else ""), f"confidence {unit.confidence:.2f}"]
    return lines + [", ".join(numbers[i : i + 2]) for i in range(0, len(numbers), 2)]


def family_sheet(census: LayerCensus, family: UnitFamily, path: Path,
                 vis: Mapping[str, torch.Tensor] | None = None, crops: Mapping[str, Sequence[np.ndarray]] | None = None,
                 limit: int = ROWS) -> Path | None:
    """The family's sheet for this layer (None when it has no member)."""
    members = census.members(family.name)[:limit]
    if not members:
        return None
    kinds = list(family.stimuli[:2])
    oriented = next((k for k in family.stimuli if "orientation" in census.responses.grid(k)), None)
    columns = len(kinds) + (oriented is not None) + bool(vis) + (3 if crops else 0)
    sheet = Image.new("RGB", (LABEL + columns * CELL, 18 + len(members) * CELL), "white")
    draw = ImageDraw.Draw(sheet)
    headers = kinds + (["tuning"] if oriented else []) + (["vis"] if vis else []) + (["dataset"] if crops else [])
    for i, h in enumerate(headers):
        draw.text((LABEL + i * CELL + 2, 3), h.replace("_", " ")[:12], fill="black")
    for r, unit in enumerate(members):
        y = 18 + r * CELL
        for j, line in enumerate(_label(unit)[:5]):
            draw.text((4, y + 4 + 12 * j), line[:38], fill="black")
        x = LABEL
        rows = census.best_rows(unit, kinds)
        column = census.units.index(unit)
        for kind in kinds:
            if census.responses[kind][rows[kind], column] > 0:  # a kind it does not answer shows nothing
                picture = stimulus_picture(kind, census.responses.grid(kind), rows[kind], census.field_px, census.centre, census.window)
                sheet.paste(_cell(picture), (x + 2, y + 2))
            else:
                draw.text((x + 8, y + CELL // 2 - 6), "no answer", fill=(150, 150, 150))
            x += CELL
        if oriented:
            angles, curves = by(census.responses, oriented)
            sheet.paste(Image.fromarray(tuning_chart(angles, curves[:, census.units.index(unit)], CELL - 4, CELL - 4, labels=False)), (x + 2, y + 2))
            x += CELL
        if vis:
            picture = vis.get(unit.unit)
            if picture is not None:
                sheet.paste(_cell((picture.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)), (x + 2, y + 2))
            x += CELL
        for crop in [c for c in (crops or {}).get(unit.unit, []) if c is not None][:3]:
            sheet.paste(_cell(crop), (x + 2, y + 2))
            x += CELL
    with atomic_target(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def examples_sheet(columns: Sequence[tuple[str, Sequence[tuple[str, np.ndarray | None]]]], families: Sequence[str], path: Path,
                   per_network: int) -> Path:
    """Networks side by side: a row per family, a column group per network, each cell a unit's
    strongest stimulus of the family's first kind with the unit's name under it. `columns` is
    (network, [(unit name, picture or None) per family row, `per_network` each, flattened])."""
    group = per_network * CELL + 12
    sheet = Image.new("RGB", (LABEL // 2 + len(columns) * group, 18 + len(families) * (CELL + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (network, _) in enumerate(columns):
        draw.text((LABEL // 2 + n * group + 2, 3), network[:group // 6], fill="black")
    for r, family in enumerate(families):
        y = 18 + r * (CELL + 14)
        draw.text((4, y + CELL // 2 - 6), family[:18], fill="black")
        for n, (_, cells) in enumerate(columns):
            for k, (unit, picture) in enumerate(cells[r * per_network : (r + 1) * per_network]):
                x = LABEL // 2 + n * group + k * CELL
                if picture is not None:
                    sheet.paste(_cell(picture), (x + 2, y + 2))
                draw.text((x + 2, y + CELL), unit.split(":")[-1][:10], fill=(60, 60, 60))
    with atomic_target(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
