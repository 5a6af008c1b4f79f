"""YAML read with a safe loader, keeping where every value came from (line and column)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Location, UserError


class SpecError(UserError):
    """A spec (circuit or edit) is invalid; the message names file:line:col and a hint."""


Path_ = tuple[Any, ...]  # a path into the document: keys and list indices


@dataclass
class Source:
    """Parsed YAML data plus a table from data paths to the place they were written."""

    file: str
    text: str
    data: Any
    marks: dict[Path_, tuple[int, int]]

    def where(self, path: Path_) -> Location:
        """The location of `path`, or of its nearest written ancestor."""
        path = tuple(path)
        while path not in self.marks and path:
            path = path[:-1]
        line, col = self.marks.get(path, (0, 0))
        return Location(self.file, line + 1, col + 1)

    def error(self, path: Path_, message: str, hint: str | None = None) -> SpecError:
        return SpecError(message, location=self.where(path), hint=hint)


def read_source(path: str | Path) -> Source:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read ({exc})") from None
    return parse_source(text, str(path))


def parse_source(text: str, file: str = "<spec>") -> Source:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise SpecError(f"not valid YAML: {exc.problem or exc}", location=location) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", location=Location(file)) from None
    marks: dict[Path_, tuple[int, int]] = {}
    if node is not None:
        _record(node, (), marks, file)
    return Source(file, text, _string_keys(data), marks)


def _string_keys(data: Any) -> Any:
    """JSON's view of the data: mapping keys become strings (YAML allows `0:` as a key)."""
    if isinstance(data, dict):
        return {str(k): _string_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_string_keys(v) for v in data]
    return data


def _record(node: yaml.Node, path: Path_, marks: dict[Path_, tuple[int, int]], file: str) -> None:
    marks[path] = (node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(yaml.safe_load(yaml.serialize(key_node)))
            if key in seen:
                raise SpecError(
                    f"key {key!r} appears twice in the same mapping",
                    location=Location(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                    hint=f"the first is on line {seen[key].start_mark.line + 1}; keep one",
                )
            seen[key] = key_node
            _record(value_node, path + (key,), marks, file)
            marks[path + (key,)] = (key_node.start_mark.line, key_node.start_mark.column)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record(item, path + (i,), marks, file)

