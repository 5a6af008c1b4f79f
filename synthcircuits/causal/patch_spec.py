"""Intervention specs: YAML -> validated `PatchSpec`, with the edit specs' address syntax and
error conventions (file:line:col, a hint, nothing run).

    synthcircuits_patch: 1
    name: curves-off-on-3b-379
    architecture: inceptionv1          # how the addresses are read (default inceptionv1)
    target: mixed3b:379                # the unit whose activation the report follows (optional)
    position: centre                   # or mean, or [y, x]
    interventions:
      - zero: {units: [mixed3a:12, mixed3a:40]}
      - scale: {units: [mixed3a:7], factor: 2}
      - clamp: {units: [mixed3a:7], max: 5}
      - set: {layer: mixed3a, value: 0, positions: [[10, 10]]}
      - mean: {units: [mixed3a:12], images: folder}
      - patch: {layer: mixed3a, source: other.png}
      - path: {from: mixed3a:12, to: mixed3b:379, do: zero}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..edit.spec import architecture_location, check_connection, relative_path, spec_architecture, unit_in
from ..errors import Location
from ..layout.address import UnitAddress
from ..language.schema import _COMMENT, _object, _one_of_keys, validate_structure
from ..language.source import Source, SpecError, parse_source, read_source

_UNITS = {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "unit addresses, e.g. mixed3a:12"}
_LAYER = {"type": "string", "description": "a whole layer (every channel), e.g. mixed3a"}
_PATH = {"type": "string", "description": "a path, relative to this file"}
_POSITIONS = {"type": "array", "minItems": 1, "description": "[y, x] positions on the layer's map (default: all)",
              "items": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}}
_WHERE = {"units": _UNITS, "layer": _LAYER, "positions": _POSITIONS, "comment": _COMMENT}

OPERATIONS: dict[str, dict[str, Any]] = {
    "zero": _object(dict(_WHERE), description="the units output 0"),
    "scale": _object({**_WHERE, "factor": {"type": "number"}}, ("factor",), "multiply the units' activations"),
    "clamp": _object({**_WHERE, "max": {"type": "number"}}, ("max",), "cap the units' activations at max"),
    "set": _object({**_WHERE, "value": {"type": "number"}}, ("value",), "the units output a constant"),
    "mean": _object({**_WHERE, "images": _PATH}, ("images",), "the units output their mean over an image folder"),
    "patch": _object({**_WHERE, "source": _PATH}, ("source",), "the units take the values they have on another image"),
    "path": _object({"from": {"type": "string"}, "to": {"type": "string"},
                     "do": {"enum": ["zero", "scale", "clamp", "set", "mean", "patch"]},
                     "factor": {"type": "number"}, "max": {"type": "number"}, "value": {"type": "number"},
                     "images": _PATH, "source": _PATH, "positions": _POSITIONS, "comment": _COMMENT},
                    ("from", "to", "do"), "change one edge only: `to` reads `from` as if `do` were done to it; every other "
                    "reader sees the original (GoogLeNet layouts)"),
}

_PARAMETER = {"scale": "factor", "clamp": "max", "set": "value", "mean": "images", "patch": "source"}

PATCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "synthcircuits intervention spec",
    "type": "object",
    "properties": {
        "synthcircuits_patch": {"const": 1, "description": "intervention language version"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "architecture": {"type": "string", "description": "the architecture the unit addresses refer to (default inceptionv1)"},
        "base": {**_PATH, "description": "the weights to run (the command's --weights overrides it)"},
        "target": {"type": "string", "description": "a unit whose activation the report follows, e.g. mixed3b:379"},
        "position": {"description": "where on the target's map: centre (default), mean, or [y, x]",
                     "anyOf": [{"enum": ["centre", "center", "mean"]},
                               {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}]},
        "interventions": {"type": "array", "items": _one_of_keys(OPERATIONS, "one intervention"), "minItems": 1},
        "comment": _COMMENT,
    },
    "required": ["synthcircuits_patch", "name", "interventions"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class PatchOp:
    """One intervention: `operation` on `units` (or all of `layer`), or on the edge `source` ->
    `target` (kind "path"); `value` a number, `path` an image folder (mean) or image (patch)."""

    kind: str
    operation: str
    layer: str
    channels: tuple[int, ...] | None = None
    positions: tuple[tuple[int, int], ...] | None = None
    value: float | None = None
    path: Path | None = None
    source: UnitAddress | None = None
    target: UnitAddress | None = None
    location: Location | None = None

    @property
    def label(self) -> str:
        if self.kind == "path":
            return f"path {self.source} -> {self.target}: {self.operation}"
        what = self.layer if self.channels is None else ", ".join(f"{self.layer}:{c}" for c in self.channels[:3])
        more = f" and {len(self.channels) - 3} more" if self.channels is not None and len(self.channels) > 3 else ""
        return f"{self.operation} {what}{more}"


@dataclass(frozen=True)
class PatchSpec:
    name: str
    architecture: str
    ops: tuple[PatchOp, ...]
    target: UnitAddress | None = None
    position: tuple[int, int] | str = "centre"  # or "mean"
    base: Path | None = None
    file: str = "<patch>"
    content_hash: str = ""
    base_location: Location | None = None
    architecture_location: Location | None = None  # its architecture: key, or the document where it has none


def load_patch(path: str | Path) -> PatchSpec:
    return patch_from_source(read_source(path))


def parse_patch(text: str, file: str = "<patch>") -> PatchSpec:
    return patch_from_source(parse_source(text, file))


def patch_from_source(src: Source) -> PatchSpec:
    if not isinstance(src.data, dict):
        raise src.error((), "an intervention spec is a YAML mapping with synthcircuits_patch, name and interventions")
    if "synthcircuits_patch" not in src.data:
        kind = "an edit spec" if "synthcircuits_edit" in src.data else "a circuit spec" if "synthcircuits" in src.data else None
        if kind:
            raise src.error((), f"this is {kind}, not an intervention spec",
                            "an intervention spec starts with `synthcircuits_patch: 1`; weight edits go to `synthcircuits edit`")
    validate_structure(src, PATCH_SCHEMA)
    data = src.data
    arch = spec_architecture(src)

    def unit(path, text) -> UnitAddress:
        return unit_in(src, arch, path, text)

    def file_at(path, text: str, folder: bool) -> Path:
        p = relative_path(src, text)
        if folder and not p.is_dir():
            raise src.error(path, f"{p} is not a folder of images", "give a folder, relative to this file")
        if not folder and not p.is_file():
            raise src.error(path, f"{p} is not an image file", "give an image, relative to this file")
        return p

    ops = []
    for i, item in enumerate(data["interventions"]):
        (kind, params), = item.items()
        path = ("interventions", i, kind)
        operation = params["do"] if kind == "path" else kind
        key = _PARAMETER.get(operation)
        if key is not None and key not in params:
            raise src.error(path, f"{kind}{' ' + operation if kind == 'path' else ''} needs {key}:")
        value = float(params[key]) if key in ("factor", "max", "value") else None
        file = file_at(path + (key,), params[key], operation == "mean") if key in ("images", "source") else None
        positions = tuple((int(y), int(x)) for y, x in params["positions"]) if "positions" in params else None
        common = dict(value=value, path=file, positions=positions, location=src.where(path))
        if kind == "path":
            source, target = unit(path + ("from",), params["from"]), unit(path + ("to",), params["to"])
            if arch.key_scheme == "modules":
                raise src.error(path, f"path patching is defined for GoogLeNet layouts, not {arch.name}",
                                "intervene on the units themselves (zero, scale, patch, ...) on every architecture")
            check_connection(src, arch, path, source, target)
            ops.append(PatchOp(kind, operation, source.layer, source=source, target=target, **common))
            continue
        if ("units" in params) == ("layer" in params):
            raise src.error(path, f"{kind} takes units: or layer: (one of them)")
        if "layer" in params:
            layer = params["layer"]
            if not arch.has_layer(layer):
                raise src.error(path + ("layer",), f"unknown layer {layer!r} for {arch.name}", "`synthcircuits layers` lists them")
            ops.append(PatchOp(kind, operation, arch.layer(layer).name, **common))
            continue
        units = [unit(path + ("units", j), t) for j, t in enumerate(params["units"])]
        layers = {u.layer for u in units}
        if len(layers) > 1:
            raise src.error(path + ("units",), f"the units are in {len(layers)} layers ({', '.join(sorted(layers))})",
                            "one intervention per layer: split them into several entries")
        ops.append(PatchOp(kind, operation, units[0].layer, tuple(u.channel for u in units), **common))
    target = unit(("target",), data["target"]) if "target" in data else None
    position = data.get("position", "centre")
    position = "centre" if position == "center" else position if isinstance(position, str) else (int(position[0]), int(position[1]))
    base = relative_path(src, data["base"]) if "base" in data else None
    return PatchSpec(data["name"], arch.name, tuple(ops), target, position, base, src.file,
                     hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(),
                     src.where(("base",)) if "base" in data else None, architecture_location(src))


def patch_error(op: PatchOp, message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, location=op.location, hint=hint)
