"""The JSON records synthcircuits writes and reads back (census.json, a run's job.json), read as
untrusted input: a damaged, truncated or hand-edited file is refused at its
file:line:col, never believed. The size is what is read (bounded), nesting is bounded by what
the decoder can read, and NaN or Infinity, which strict JSON has not, are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import Location, UserError
from .textfile import read_utf8


class _NotJSON(ValueError):
    pass


def _refuse(constant: str):
    raise _NotJSON(constant)


def read_record(path: str | Path, what: str, limit: int, hint: str) -> Any:
    """The JSON value in `path` (a `what`, e.g. "census.json"), or a UserError at its location."""
    path = Path(path)
    text = read_utf8(path, what, limit)
    try:
        return json.loads(text, parse_constant=_refuse)
    except json.JSONDecodeError as exc:
        raise UserError(f"not JSON ({exc.msg})", location=Location(str(path), exc.lineno, exc.colno), hint=hint) from None
    except _NotJSON as exc:
        raise UserError(f"{path}: holds {exc}, which JSON has not (a damaged or hand-edited {what})", hint=hint) from None
    except RecursionError:
        raise UserError(f"{path}: nested deeper than any {what} this tool writes", hint=hint) from None


def finite_number(value: Any, low: float, high: float) -> float:
    """`value` as a float within [low, high], or ValueError (for the record checks' messages)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    number = float(value)
    if not low <= number <= high:
        raise ValueError(f"{number!r} is outside [{low:g}, {high:g}]")
    return number
