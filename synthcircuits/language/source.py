"""YAML read with a safe loader, keeping where every value came from (line and column)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Location, UserError
from ..limits import MAX_SPEC_NUMBER, MAX_YAML_ALIASES, MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from ..textfile import line_column, read_utf8


class SpecError(UserError):
    """A spec (circuit or edit) is invalid; the message names file:line:col and a hint."""


Path_ = tuple[Any, ...]  # a path into the document: keys and list indices


class SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers as YAML 1.2 does: `1e-3` and `2E5` are floats
    (YAML 1.1 wants a dot, so PyYAML would hand the schema the string '1e-3')."""


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


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
    return parse_source(read_utf8(path, "spec", MAX_YAML_BYTES, SpecError), str(path))


def parse_source(text: str, file: str = "<spec>") -> Source:
    """Parse YAML text within the limits, keeping every value's line and column."""
    node = compose_limited(text, file)
    marks: dict[Path_, tuple[int, int]] = {}
    try:
        data = yaml.load(text, Loader=SpecLoader)  # safe, and bounded by the checks above
        if node is not None:
            _record(node, (), marks, file)
    except yaml.YAMLError as exc:  # e.g. a tag such as !!python/object, which the safe loader refuses
        raise _yaml_error(exc, text, file) from None
    source = Source(file, text, _string_keys(data), marks)
    _check_numbers(source, source.data, ())
    return source


def compose_limited(text: str, file: str = "<spec>") -> yaml.Node | None:
    """The YAML node tree of `text`, refusing oversized, too deep or alias-bomb documents
    (each at its line and column) before anything is built."""
    if len(text) > MAX_YAML_BYTES:
        raise SpecError(f"{len(text):,} characters is more than the {MAX_YAML_BYTES:,} a spec may have", location=Location(file))
    try:
        _check_shape(yaml.parse(text, Loader=SpecLoader), file)
        return yaml.compose(text, Loader=SpecLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, file) from None


def _yaml_error(exc: yaml.YAMLError, text: str, file: str) -> SpecError:
    """A YAML error as a SpecError at the line and column where the problem starts."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark, context = exc.problem_mark, exc.context
        if exc.context_mark is not None and (mark is None or "end of stream" in (exc.problem or "")):
            mark = exc.context_mark  # an unclosed quote or bracket: where it opened, not the end of the file
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        what = f"{context}, {exc.problem}" if context and exc.problem else (exc.problem or context or str(exc))
        hint = "specs hold plain data: tags such as !!python/... are not read" if "constructor" in what else None
        return SpecError(f"not valid YAML: {what}", location=location, hint=hint)
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = line_column(text[: exc.position])
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return SpecError(f"not valid YAML: character {character!r} is not allowed", location=Location(file, line, column),
                         hint="remove control characters (NUL and the like) from the file")
    return SpecError(f"not valid YAML: {exc}", location=Location(file))


def _check_shape(events, file: str) -> None:
    """Walk the event stream once: nesting depth, alias uses, and the node count aliases expand to."""
    sizes: dict[str, int] = {}  # anchor -> expanded node count
    stack: list[list] = []  # open collections: [anchor, expanded size so far]
    total = aliases = 0

    def fail(event, message: str, hint: str) -> SpecError:
        return SpecError(message, location=Location(file, event.start_mark.line + 1, event.start_mark.column + 1), hint=hint)

    for event in events:
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append([event.anchor, 1])
            total += 1
            if len(stack) > MAX_YAML_DEPTH:
                raise fail(event, f"nested more than {MAX_YAML_DEPTH} levels deep", "specs need a few levels; check the brackets")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size = stack.pop()
            if anchor is not None:
                sizes[anchor] = size
            if stack:
                stack[-1][1] += size
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if any(anchor == event.anchor for anchor, _ in stack):
                    raise fail(event, f"alias *{event.anchor} sits inside the collection &{event.anchor} names: the value would contain "
                               "itself", "write the values out")
                size = sizes.get(event.anchor, 1)
                if aliases > MAX_YAML_ALIASES:
                    raise fail(event, f"more than {MAX_YAML_ALIASES} aliases (*name) in one document", "write the values out")
            else:
                size = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            total += size
            if stack:
                stack[-1][1] += size
            if total > MAX_YAML_NODES:
                raise fail(event, f"the document expands to more than {MAX_YAML_NODES:,} values"
                           + (f" (alias *{event.anchor} repeats {size:,})" if isinstance(event, yaml.AliasEvent) else ""),
                           "aliases that nest aliases grow exponentially (a 'billion laughs' file); write the values out")


def _check_numbers(source: Source, data: Any, path: Path_) -> None:
    """Every number finite and of a size a circuit can use (float32 overflows on products of huge ones)."""
    if isinstance(data, dict):
        for key, value in data.items():
            _check_numbers(source, value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _check_numbers(source, value, path + (i,))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        if not math.isfinite(data):
            raise source.error(path, f"{_dotted(path)}: {data} is not a finite number", "write a plain number")
        if abs(data) > MAX_SPEC_NUMBER:
            raise source.error(path, f"{_dotted(path)}: {data:g} is larger than the {MAX_SPEC_NUMBER:g} any spec number may be",
                               "weights, gains and sizes of a hand-written circuit stay far below that")


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path) or "the document"


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
            key = str(yaml.load(yaml.serialize(key_node), Loader=SpecLoader))
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

