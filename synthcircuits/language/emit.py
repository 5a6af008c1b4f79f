"""Writing YAML values into the specs the tools draft (decompile, extract), so each reads back as
what was written: a path with ` #` or `: ` in it, a leading `*`, `&` or `!`, quotes or any
unicode is quoted as YAML needs. The drafts keep their hand-made layout and comments; only the
values go through the emitter."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import UserError
from .source import parse_source  # the reader the drafts will meet


def scalar(value: str | float | int | bool | None) -> str:
    """`value` as one YAML flow scalar, quoted only where it must be (a string that this
    package's reader, which follows YAML 1.2 for numbers, would read as anything else is quoted)."""
    text = _dumped(value)
    if isinstance(value, str) and _read_back(text) != value:
        text = _dumped(value, style="'")
    return text


def _dumped(value, style: str | None = None) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, default_style=style, allow_unicode=True, width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...").removesuffix("\n")


def _read_back(text: str):
    return parse_source(f"value: {text}\n", "<emitted>").data["value"]


def path_scalar(path: str | Path) -> str:
    """A path as a YAML scalar; a path with a line break in it is refused (no draft can say it
    on one line, and no reader expects it)."""
    text = str(path)
    if "\n" in text or "\r" in text:
        raise UserError(f"{text!r}: a path with a line break cannot be written into a spec", hint="rename the file or folder")
    return scalar(text)


def comment(text: str) -> str:
    """Text for a `# ...` comment: on one line, whatever it holds."""
    return " ".join(str(text).split())
