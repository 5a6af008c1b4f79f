"""JSON that every strict parser reads (a browser's JSON.parse, jq, Python with parse_constant
raising): NaN and infinities, which Python's json writes as bare `NaN` and `Infinity`, become
null, and a dictionary says beside the key what was there (`"r": null, "r_nonfinite": "nan"`)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def strict_json(data: Any, **options: Any) -> str:
    """`json.dumps` of `data` with every non-finite number replaced (and named beside it)."""
    return json.dumps(finite(data), allow_nan=False, **options)


def finite(value: Any) -> Any:
    """`value` with NaN/Inf floats as None; in a dict, `KEY_nonfinite` says which they were."""
    if isinstance(value, dict):
        out: dict = {}
        for key, item in value.items():
            out[key] = finite(item)
            if _non_finite(item):
                out[f"{key}_nonfinite"] = _name(item)
        return out
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _non_finite(value: Any) -> bool:
    return isinstance(value, (float, np.floating)) and not math.isfinite(float(value))


def _name(value: Any) -> str:
    number = float(value)
    return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")
