"""Edit specs: YAML -> validated `EditSpec`, with the same error conventions as circuit specs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AddressError, Location, UserError
from ..layout.address import UnitAddress, parse_unit
from ..layout.architectures import Architecture
from ..models.zoo import architecture_named
from ..language.schema import _COMMENT, _object, _one_of_keys, validate_structure
from ..language.source import Source, SpecError, parse_source, read_source
from ..layout.topology import feeds, lrn_between

_UNITS = {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "unit addresses, e.g. mixed3b:379"}
_PATH = {"type": "string", "description": "a path, relative to this edit file"}

OPS: dict[str, dict[str, Any]] = {
    "ablate": _object(
        {"units": _UNITS, "mode": {"enum": ["activation", "outgoing"]}, "comment": _COMMENT},
        ("units",),
        "activation (default): the units output 0; outgoing: every weight reading them becomes 0",
    ),
    "clamp": _object({"units": _UNITS, "value": {"type": "number", "minimum": 0}, "comment": _COMMENT}, ("units", "value"),
                     "the units output a constant (>= 0: they follow a ReLU)"),
    "scale": _object({"units": _UNITS, "factor": {"type": "number", "minimum": 0}, "comment": _COMMENT}, ("units", "factor"),
                     "multiply the units' activations (incoming weights and bias) by a factor >= 0"),
    "ablate_connection": _object({"from": {"type": "string"}, "to": {"type": "string"}, "comment": _COMMENT}, ("from", "to"),
                                 "remove one unit's weight on another (through a bottleneck: by projection)"),
    "scale_connection": _object({"from": {"type": "string"}, "to": {"type": "string"}, "factor": {"type": "number"}, "comment": _COMMENT},
                                ("from", "to", "factor"), "multiply one unit's weight on another"),
    "mean_ablate": _object({"units": _UNITS, "images": _PATH, "comment": _COMMENT}, ("units",),
                           "replace the units by their mean activation over an image folder, folded into the next layer's biases"),
    "transplant": _object({"spec": _PATH, "weights": _PATH, "units": _UNITS, "comment": _COMMENT}, ("units",),
                          "give the units the incoming weights a circuit spec compiles for them (spec:), or that another "
                          "weights file of the same architecture holds (weights:)"),
    "splice": _object({"spec": _PATH, "units": _UNITS, "comment": _COMMENT}, ("spec",),
                      "run a compiled circuit as a side path; its units' outputs replace the same channels of this model"),
}

EDIT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "synthcircuits edit spec",
    "type": "object",
    "properties": {
        "synthcircuits_edit": {"const": 1, "description": "edit language version"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "architecture": {"type": "string", "description": "the architecture the unit addresses refer to: inceptionv1 (default), "
                         "bvlc_googlenet, torchvision_googlenet, torchvision:NAME or timm:NAME (see `synthcircuits layers --list`)"},
        "base": {**_PATH, "description": "the weights to edit (the command's --weights overrides it)"},
        "edits": {"type": "array", "items": _one_of_keys(OPS, "one edit operation"), "minItems": 1},
        "comment": _COMMENT,
    },
    "required": ["synthcircuits_edit", "name", "edits"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class EditOp:
    kind: str
    units: tuple[UnitAddress, ...] = ()
    source: UnitAddress | None = None
    target: UnitAddress | None = None
    value: float = 0.0
    mode: str = "activation"
    path: Path | None = None  # images folder, circuit spec, or (transplant) weights file
    from_weights: bool = False  # transplant: `path` is a weights file, not a circuit spec
    location: Location | None = None

    @property
    def label(self) -> str:
        if not self.units:
            return f"{self.kind} {self.source} -> {self.target}"
        shown = ", ".join(str(u) for u in self.units[:3])
        more = f" and {len(self.units) - 3} more" if len(self.units) > 3 else ""
        return f"{self.kind} {shown}{more}"


@dataclass(frozen=True)
class EditSpec:
    name: str
    description: str
    architecture: str
    ops: tuple[EditOp, ...]
    base: Path | None = None
    file: str = "<edit>"
    content_hash: str = ""
    data: dict = field(default_factory=dict, repr=False)
    base_location: Location | None = None
    architecture_location: Location | None = None  # its architecture: key, or the document where it has none


def load_edit(path: str | Path) -> EditSpec:
    return edit_from_source(read_source(path))


def parse_edit(text: str, file: str = "<edit>") -> EditSpec:
    return edit_from_source(parse_source(text, file))


def edit_from_source(src: Source) -> EditSpec:
    if not isinstance(src.data, dict):
        raise src.error((), "an edit spec is a YAML mapping with synthcircuits_edit, name and edits")
    if "synthcircuits" in src.data and "synthcircuits_edit" not in src.data:
        raise src.error(("synthcircuits",), "this is a circuit spec, not an edit spec",
                        "build it with `synthcircuits build`; an edit spec starts with `synthcircuits_edit: 1`")
    validate_structure(src, EDIT_SCHEMA)
    arch = spec_architecture(src)
    traced = arch.key_scheme == "modules"

    def unit(path, text) -> UnitAddress:
        return unit_in(src, arch, path, text)

    def relative(text: str) -> Path:
        return relative_path(src, text)

    ops = []
    for i, item in enumerate(src.data["edits"]):
        (kind, params), = item.items()
        path = ("edits", i, kind)
        location = src.where(path)
        units = tuple(unit(path + ("units", j), t) for j, t in enumerate(params.get("units", [])))
        if kind in ("clamp", "scale", "transplant") or (kind == "ablate" and params.get("mode", "activation") == "activation"):
            _check_own_weights(src, arch, path, units, kind)
        op = EditOp(kind, units, location=location)
        if traced and kind in ("ablate_connection", "scale_connection", "splice"):
            raise src.error(path, f"{kind} is defined for GoogLeNet layouts, not for {arch.name}",
                            "ablate, scale, clamp, mean_ablate and transplant work on every architecture")
        if kind in ("ablate_connection", "scale_connection"):
            source, target = unit(path + ("from",), params["from"]), unit(path + ("to",), params["to"])
            check_connection(src, arch, path, source, target)
            op = EditOp(kind, source=source, target=target, value=float(params.get("factor", 0.0)), location=location)
        elif kind == "clamp":
            op = EditOp(kind, units, value=float(params["value"]), location=location)
        elif kind == "scale":
            op = EditOp(kind, units, value=float(params["factor"]), location=location)
        elif kind == "ablate":
            op = EditOp(kind, units, mode=params.get("mode", "activation"), location=location)
        elif kind == "mean_ablate":
            for j, u in enumerate(() if traced else units):  # traced units take their mean where they are computed
                if not u.branch or lrn_between(arch, u.layer):
                    raise src.error(path + ("units", j), f"mean ablation folds {u} into the next layer's biases, which is exact only "
                                    "for units of inception blocks", "use ablate or clamp for conv2d units")
            images = relative(params["images"]) if "images" in params else None
            if images is not None and not images.is_dir():
                raise src.error(path + ("images",), f"{images} is not a folder of images", "give a folder, relative to the edit file")
            op = EditOp(kind, units, path=images, location=location)
        elif kind in ("transplant", "splice"):
            given = [key for key in ("spec", "weights") if key in params]
            if len(given) != 1 or (kind == "splice" and given != ["spec"]):
                raise src.error(path, f"{kind} takes {'spec: or weights:' if kind == 'transplant' else 'spec:'} (one of them)")
            if given == ["spec"] and traced:
                raise src.error(path + ("spec",), f"circuit specs compile GoogLeNet layouts, not {arch.name}", "transplant from weights: FILE")
            source_path = relative(params[given[0]])
            if not source_path.is_file():
                raise src.error(path + (given[0],), f"{source_path} does not exist", "give a path relative to the edit file")
            if source_path.resolve() == Path(src.file).resolve():
                raise src.error(path + (given[0],), f"the {kind} names this edit file itself",
                                "name a circuit spec (synthcircuits: 1) or, for transplant, a weights file")
            op = EditOp(kind, units, path=source_path, location=location, from_weights=given == ["weights"])
        ops.append(op)
    data = src.data
    base = relative(data["base"]) if "base" in data else None
    return EditSpec(
        data["name"], data.get("description", ""), arch.name, tuple(ops), base, src.file,
        hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(), data,
        src.where(("base",)) if "base" in data else None, architecture_location(src),
    )


# Reading any spec that names units of an architecture (edit specs here, intervention specs in
# `causal.patch_spec`): errors land on the key that caused them.


def spec_architecture(src: Source) -> Architecture:
    """The architecture the spec's `architecture:` names (default inceptionv1)."""
    try:
        return architecture_named(src.data.get("architecture", "inceptionv1"))
    except UserError as exc:
        raise src.error(("architecture",), exc.message, exc.hint) from None


def _check_own_weights(src: Source, arch: Architecture, path: tuple, units: tuple[UnitAddress, ...], kind: str) -> None:
    """`kind` rewrites each unit's own incoming weights and bias: only units a conv (or linear)
    layer computes have them, or in a traced network those whose layer names the modules that
    compute it (a conv and its batch norm). A pooling, normalisation or softmax unit is refused
    at its line."""
    for j, u in enumerate(units):
        layer = arch.layer(u.layer)
        own = bool(layer.affine) if arch.key_scheme == "modules" else layer.kind in ("conv", "block", "linear")
        if not own:
            raise src.error(path + ("units", j), f"{u} is a unit of {u.layer}, a {layer.kind} layer: it has no weights of its own "
                            f"for {kind} to change", "name the unit of the conv layer it comes from"
                            + (", or use `mode: outgoing` to cut the weights that read it" if kind == "ablate" else ""))


def architecture_location(src: Source) -> Location:
    return src.where(("architecture",)) if "architecture" in src.data else src.where(())


def check_weights_architecture(found: str, spec_architecture: str, location: Location | None, weights: Path) -> None:
    """The weights a spec runs on must be of the architecture its addresses are read in: else an
    error at the spec's `architecture:` line, which is where the user says which they meant."""
    if found != spec_architecture:
        where = "says" if location and location.line and location.line > 1 else "defaults to"
        raise SpecError(f"this spec's architecture {where} {spec_architecture}, but {weights} holds {found} weights",
                        location=location, hint=f"set `architecture: {found}` in the spec (and its addresses to {found}'s "
                        f"names), or pass {spec_architecture} weights")


def unit_in(src: Source, arch: Architecture, path: tuple, text: str) -> UnitAddress:
    """The unit address at `path` of the spec, parsed against `arch`."""
    try:
        return parse_unit(text, arch)
    except AddressError as exc:
        raise src.error(path, exc.message, exc.hint) from None


def relative_path(src: Source, text: str) -> Path:
    """A path the spec gives, relative to the spec file unless absolute."""
    p = Path(text).expanduser()
    return p if p.is_absolute() else Path(src.file).parent / p


def check_connection(src: Source, arch: Architecture, path: tuple, source: UnitAddress, target: UnitAddress) -> None:
    """`target` reads `source` directly, or an error at `path`'s `to:`."""
    if not feeds(arch, source, target):
        raise src.error(path + ("to",), f"there is no connection {source} -> {target}: {target.layer} does not read {source.layer}",
                        "a connection joins a unit to one in the next conv layer or inception block")


def edit_error(op: EditOp, message: str, hint: str | None = None) -> SpecError:
    return SpecError(message, location=op.location, hint=hint)
