"""The compiler's one entry point: spec -> graph -> placement -> state dict -> module."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from torch import Tensor, nn

from .. import __version__
from ..errors import UserError
from ..layout.address import UnitAddress
from ..models.compact import LAYOUT_KEY, CompactLayer, CompactNet
from ..models.weights import content_hash, read_weights, save_safetensors
from ..models.zoo import model_from_state_dict, weights_architecture
from ..language.model import Spec
from ..language.source import SpecError
from ..tables import format_table
from .graph import CircuitGraph, build_graph
from .lower import BottleneckUse, compact_index, lower_compact, lower_inceptionv1
from .placement import assign_channels
from ..jsontext import strict_json

TARGETS = ("inceptionv1", "compact")


@dataclass(frozen=True)
class UnitRecord:
    """One compiled unit: what it is and where it lives (in InceptionV1 and in the built model)."""

    family: str
    index: int
    orientation: float
    phase: float
    address: UnitAddress | None  # its channel in the InceptionV1 layout (None: unpinned unit of a compact build)
    layer: str
    channel: int  # its channel in the built model's layer output
    kind: str = ""  # what the census should call it (the spec family's `kind:`, else its name)

    def as_json(self) -> dict:
        return {
            "family": self.family, "kind": self.kind or self.family, "index": self.index, "orientation": self.orientation, "phase": self.phase,
            "address": str(self.address) if self.address else None, "layer": self.layer, "channel": self.channel,
        }


@dataclass
class Build:
    spec: Spec
    target: str
    graph: CircuitGraph
    state: dict[str, Tensor]
    units: list[UnitRecord]
    bottlenecks: list[BottleneckUse] = field(default_factory=list)
    compact_layers: list[CompactLayer] = field(default_factory=list)
    base_hash: str | None = None

    def model(self) -> nn.Module:
        if self.target == "compact":
            model = CompactNet(self.compact_layers)
            model.load_state_dict(self.state, strict=True)
            return model.eval()
        return model_from_state_dict(self.state, self.spec.architecture, f"build of {self.spec.file}")

    def metadata(self) -> dict[str, str]:
        meta = {
            "synthcircuits.version": __version__,
            # What the tensors are: a compact net, or the spec's own architecture (a base patch of BVLC
            # GoogLeNet is a BVLC GoogLeNet), so every command opens the file as what it is.
            "synthcircuits.architecture": "compact" if self.target == "compact" else self.spec.architecture,
            "synthcircuits.spec_name": self.spec.name,
            "synthcircuits.spec_hash": self.spec.content_hash,
            "synthcircuits.units": json.dumps([u.as_json() for u in self.units]),
        }
        if self.base_hash:
            meta["synthcircuits.base_hash"] = self.base_hash
        if self.target == "compact":
            meta[LAYOUT_KEY] = CompactNet(self.compact_layers).layout_metadata()
        return meta

    def save(self, path: str | Path) -> Path:
        return save_safetensors(self.state, path, self.metadata())

    def summary(self) -> str:
        per_layer: dict[str, int] = {}
        for u in self.units:
            per_layer[u.layer] = per_layer.get(u.layer, 0) + 1
        lines = [
            f"{self.spec.name}: {len(self.units)} units, {self.graph.edge_count()} unit-to-unit connections, "
            f"target {self.target}, spec sha256 {self.spec.content_hash[:12]}",
            "",
            self.graph.table(),
            "",
            format_table(["layer", "units"], [[k, v] for k, v in per_layer.items()]),
        ]
        if self.bottlenecks:
            rows = [[f"{b.block} {b.branch}", b.width, len(b.channels), f"{len(b.channels) / b.width:.0%}"] for b in self.bottlenecks]
            lines += ["", format_table(["bottleneck", "width", "used", "use"], rows)]
        return "\n".join(lines)

    def units_json(self) -> str:
        return strict_json({"spec": self.spec.name, "spec_hash": self.spec.content_hash, "target": self.target,
                           "units": [u.as_json() for u in self.units]}, indent=1)


def compile_spec(spec: Spec, target: str = "inceptionv1", base: str | Path | Mapping[str, Tensor] | None = None) -> Build:
    """Compile `spec` for `target`; `base` (a weights file or a state dict; else the spec's own
    base:) is the InceptionV1 model to patch."""
    if target not in TARGETS:
        raise UserError(f"unknown target {target!r}", hint=f"choose one of {', '.join(TARGETS)}")
    graph = build_graph(spec)
    base_state = dict(base) if isinstance(base, Mapping) else None
    base_path = None if base_state is not None else (Path(base) if base else spec.base)
    if spec.architecture != "inceptionv1" and (target == "compact" or (base_path is None and base_state is None)):
        raise UserError(f"{spec.file}: a {spec.architecture} spec patches trained weights: it needs base: (and the full-network target)",
                        hint="set base: to the weights file the spec's kept units come from")
    kept = [f.name for f in spec.families if f.keep]
    if kept and base_path is None and base_state is None:
        raise UserError(f"{spec.file}: family {kept[0]!r} keeps trained units, so the spec patches a base, and none was given",
                        hint="add base: to the spec, or pass the weights: --base FILE")
    if target == "compact":
        if base_path or base_state is not None:
            raise UserError("a compact build holds only the spec's units; it cannot patch base weights", hint="use --target inceptionv1 with --base")
        # Compact layers are as wide as the spec needs. Where the spec also fits InceptionV1,
        # units keep their addresses there (and with them their LRN neighbourhoods).
        try:
            placement = assign_channels(graph)
        except SpecError:  # wider than InceptionV1: fine for a compact net
            placement = None
        state, layers = lower_compact(graph, placement)
        return Build(spec, target, graph, state, _records(spec, graph, placement or {}, compact_index(graph)), compact_layers=layers)
    placement = assign_channels(graph)
    base_hash = content_hash(base_state) if base_state is not None else None
    if base_path:
        weights = read_weights(base_path)
        if weights_architecture(weights) != spec.architecture:
            raise UserError(f"{base_path}: base weights must be {spec.architecture} weights (the spec's architecture:), "
                            f"not {weights_architecture(weights)}")
        base_state, base_hash = weights.tensors, content_hash(weights.tensors)
    state, uses = lower_inceptionv1(graph, placement, base_state)
    channels = {key: address.channel for key, address in placement.items()}
    return Build(spec, target, graph, state, _records(spec, graph, placement, channels), uses, base_hash=base_hash)


def _records(spec: Spec, graph: CircuitGraph, placement, channels) -> list[UnitRecord]:
    kinds = {f.name: f.kind for f in spec.families}
    return [
        UnitRecord(u.family, u.index, u.orientation, u.phase, placement.get((u.family, u.index)), u.layer, channels[(u.family, u.index)],
                   kinds.get(u.family, u.family))
        for u in graph.units()
    ]
