"""Rendering a page from the package's templates, and writing it atomically."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..outputs import atomic_target


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("synthcircuits.pages", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["g"] = lambda value, digits=4: f"{value:.{digits}g}"  # numbers as the terminal tables print them
    env.filters["signed"] = lambda value, digits=3: f"{value:+.{digits}g}"
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` (a file of templates/) with `context`; every value is escaped unless a
    template says otherwise."""
    return environment().get_template(template).render(**context)


def write_page(path: Path, template: str, **context: Any) -> Path:
    with atomic_target(Path(path)) as tmp:
        tmp.write_text(render(template, **context), encoding="utf-8")
    return Path(path)
