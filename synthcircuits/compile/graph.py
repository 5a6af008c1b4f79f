"""Stage 1: spec -> circuit graph. Units, and dense weights between families, per layer.

The graph knows layer names and kernel sizes (from the layout) but no channel placement,
no bottlenecks and no torch: lowering onto an architecture is the next stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..kernels.connections import rule_weights
from ..kernels.geometry import embed_centered
from ..kernels.pixels import pixel_kernel
from ..layout.architectures import Architecture, get_architecture
from ..spec.model import Family, Spec
from ..tables import format_table


@dataclass(frozen=True)
class GraphUnit:
    family: str
    index: int
    layer: str
    branch: str | None
    orientation: float
    phase: float

    @property
    def name(self) -> str:
        return f"{self.family}[{self.index}]"


@dataclass
class CircuitGraph:
    """Everything a spec asks for, before it is placed on channels."""

    spec: Spec
    architecture: Architecture
    families: dict[str, Family]
    kernel_sizes: dict[str, int]  # family -> spatial size of its incoming weights
    pixel_kernels: dict[str, np.ndarray] = field(default_factory=dict)  # family -> (N, 3, k, k)
    weights: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (target, source) -> (Nt, Ns, k, k)
    biases: dict[str, np.ndarray] = field(default_factory=dict)  # family -> (N,)

    def units(self) -> list[GraphUnit]:
        return [
            GraphUnit(f.name, i, f.layer, f.branch, f.orientation_of(i), f.phase_of(i))
            for f in self.families.values()
            for i in range(f.size)
        ]

    def layers(self) -> list[str]:
        """Layers holding units, in forward order."""
        used = {f.layer for f in self.families.values()}
        return [name for name in self.architecture.layer_names if name in used]

    def edge_count(self) -> int:
        return sum(int(np.count_nonzero(np.abs(w).sum(axis=(-2, -1)))) for w in self.weights.values())

    def table(self) -> str:
        rows = []
        for f in self.families.values():
            inputs = sorted({s for (t, s) in self.weights if t == f.name})
            edges = sum(int(np.count_nonzero(np.abs(w).sum(axis=(-2, -1)))) for (t, _), w in self.weights.items() if t == f.name)
            rows.append([
                f.name, f.layer, f.branch or "", f.size, f"{len(f.orientations)} x {f.step:g} deg" if f.uniform else f"{len(f.orientations)} given",
                f"{self.kernel_sizes[f.name]}x{self.kernel_sizes[f.name]}", ", ".join(inputs) or ("pixels" if f.kernel else "-"), edges,
            ])
        return format_table(["family", "layer", "branch", "units", "orientations", "kernel", "inputs", "edges"], rows)


def build_graph(spec: Spec) -> CircuitGraph:
    """Expand every family's kernel and every rule into dense weights."""
    arch = get_architecture(spec.architecture)
    families = {f.name: f for f in spec.families}
    sizes = {f.name: arch.layer(f.layer).unit_kernel(f.branch) for f in spec.families}
    graph = CircuitGraph(spec, arch, families, sizes)
    for f in spec.families:
        graph.biases[f.name] = np.full(f.size, f.bias)
        if f.kernel is not None:
            graph.pixel_kernels[f.name] = np.stack([
                embed_centered(pixel_kernel(f.kernel.kind, f.kernel.params, f.orientation_of(i), f.phase_of(i)), sizes[f.name])
                for i in range(f.size)
            ])
        for rule in f.inputs:
            source = families[rule.source]
            w = rule_weights(rule, f, source, sizes[f.name])
            key = (f.name, source.name)
            graph.weights[key] = graph.weights.get(key, 0) + w
    for c in spec.connections:
        key = (c.target.family, c.source.family)
        if key not in graph.weights:
            t, s = families[c.target.family], families[c.source.family]
            graph.weights[key] = np.zeros((t.size, s.size, sizes[t.name], sizes[t.name]))
        size = sizes[c.target.family]
        if c.kernel is not None:
            add = embed_centered(np.asarray(c.kernel, dtype=np.float64), size)
        else:
            add = embed_centered(np.full((1, 1), c.weight), size)
        graph.weights[key][c.target.index, c.source.index] += add
    return graph
