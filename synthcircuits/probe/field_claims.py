"""Picture claims judged over the whole field and over stimulus variants.

A check's `answer`, `ratio` and `conjunction` expectations compare units' answers to its
pictures. Where the answer is read (`at:`):

    centre  the unit at the centre of the map (the default)
    max     the strongest answer of any unit of the map whose receptive field holds the
            picture's centre: a stroke that drives the unit off centre counts
    every   each of those positions on its own: a ratio or conjunction must hold at every
            position where the unit answers at all (over 1e-3 of its strongest answer there)

and to which pictures (`vary:`): every combination of position offsets, stroke widths, sizes
and polarities, each expectation reporting its worst variant. A conjunction ("needs all its
parts") draws each part of a picture alone: the strongest part alone stays under a fraction
of the whole.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import Tensor

from ..language.model import Check
from ..stimuli.compose import Paste, negative, render_pictures, varied_picture

FIELD_EXPECTATIONS = ("answer", "ratio", "conjunction")
SILENT = 1e-3  # below this fraction of a unit's strongest answer in a comparison, a position says nothing


@dataclass(frozen=True)
class Variant:
    offset: tuple[float, float] = (0.0, 0.0)
    width: float | None = None
    scale: float = 1.0
    polarity: str = "dark"

    def label(self) -> str:
        words = []
        if self.offset != (0.0, 0.0):
            words.append(f"offset {self.offset[0]:g},{self.offset[1]:g} px")
        if self.width is not None:
            words.append(f"width {self.width:g} px")
        if self.scale != 1.0:
            words.append(f"scale {self.scale:g}")
        if self.polarity != "dark":
            words.append(self.polarity)
        return ", ".join(words) or "as drawn"


def variants(vary: Mapping[str, Any]) -> list[Variant]:
    """Every combination of the check's `vary:` lists (one variant, the picture as drawn, without any)."""
    offsets = [tuple(float(v) for v in o) for o in vary.get("offset", [(0.0, 0.0)])]
    widths = [float(w) for w in vary.get("width", [])] or [None]
    scales = [float(s) for s in vary.get("scale", [1.0])]
    polarities = list(vary.get("polarity", ["dark"]))
    return [Variant(o, w, s, p) for o, w, s, p in itertools.product(offsets, widths, scales, polarities)]


def part_name(picture: str, j: int) -> str:
    return f"{picture} part {j + 1} alone"


def variant_pictures(check: Check, variant: Variant, paste: Paste | None) -> dict[str, Tensor]:
    """The check's pictures under one variant, plus each part alone of the pictures a conjunction names."""
    drawn = {name: (p if "of" in p else varied_picture(p, variant.offset, variant.width, variant.scale)) for name, p in check.pictures.items()}
    for of in _conjunction_pictures(check):
        for j, part in enumerate(drawn[of]["parts"]):
            drawn[part_name(of, j)] = {**drawn[of], "parts": [part]}
    pictures = render_pictures(drawn, paste)
    return {name: negative(image) for name, image in pictures.items()} if variant.polarity == "light" else pictures


def _conjunction_pictures(check: Check) -> list[str]:
    claims = check.expect.get("conjunction", [])
    return [c["of"] for c in ([claims] if isinstance(claims, dict) else claims)]


def ratio_value(of: np.ndarray, over: np.ndarray, at: str, at_least: bool) -> float:
    """`of` over `over`: at one position, strongest over strongest, or the worst position."""
    if at != "every":
        return safe_ratio(float(of.max()), float(over.max()))
    scale = max(float(np.abs(of).max()), float(np.abs(over).max()), 0.0)
    speaking = (np.maximum(of, over) > SILENT * scale) if scale > 0 else np.zeros_like(of, dtype=bool)
    if not speaking.any():
        return math.nan
    values = [safe_ratio(float(a), float(b)) for a, b in zip(of[speaking], over[speaking])]
    return min(values) if at_least else max(values)


def conjunction_value(whole: np.ndarray, parts: Sequence[np.ndarray], at: str) -> float:
    """The strongest part alone as a fraction of the whole picture's answer."""
    return max(ratio_value(part, whole, at, at_least=False) for part in parts)


def safe_ratio(a: float, b: float) -> float:
    """a / b, with a positive answer over none infinite and nothing over nothing undefined."""
    return a / b if b > 0 else (math.inf if a > 0 else math.nan)


def claims(check: Check) -> list[tuple[str, dict]]:
    """The check's field expectations, one (kind, claim) each."""
    found = []
    for kind in FIELD_EXPECTATIONS:
        value = check.expect.get(kind)
        if value is not None:
            found += [(kind, c) for c in ([value] if isinstance(value, dict) else value)]
    return found


def claim_value(kind: str, claim: dict, answers: dict[str, list[np.ndarray]], unit: int, at: str, parts: int) -> tuple[str, float, bool]:
    """(what is measured, its value, whether the limit is a floor) for one unit under one variant."""
    if kind == "answer":
        value = float(answers[claim["to"]][unit].max())
        return f"answer to {claim['to']}", value, "at_least" in claim
    if kind == "ratio":
        at_least = "at_least" in claim
        of, over = answers[claim["of"]][unit], answers[claim["over"]][unit]
        values = "" if at == "every" else f" ({of.max():.4g})", "" if at == "every" else f" ({over.max():.4g})"
        return (f"answer to {claim['of']}{values[0]} / to {claim['over']}{values[1]}", ratio_value(of, over, at, at_least), at_least)
    whole = answers[claim["of"]][unit]
    alone = [answers[part_name(claim["of"], j)][unit] for j in range(parts)]
    return f"strongest part of {claim['of']} alone / the whole", conjunction_value(whole, alone, at), False
