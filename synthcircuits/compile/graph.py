"""Stage 1: spec -> circuit graph. Units, and dense weights between families, per layer.

The graph knows layer names and kernel sizes (from the layout) but no channel placement,
no bottlenecks and no torch: lowering onto an architecture is the next stage's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..kernels.connections import rule_weights
from ..kernels.geometry import embed_centered, wrap
from ..kernels.pixels import hue_rotated, pixel_kernel
from ..layout.architectures import Architecture, get_architecture
from ..language.model import Family, Spec, mirror_angle
from ..language.source import SpecError
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
                embed_centered(family_kernel(f, i), sizes[f.name]) for i in range(f.size)
            ])
        for rule in f.inputs:
            source = families[rule.source]
            w = rule_weights(rule, f, source, sizes[f.name])
            if rule.gain and not np.any(w):
                raise SpecError(f"{f.name!r}: the rule from {source.name!r} gives no weight at all: no position of the "
                                f"{sizes[f.name]}x{sizes[f.name]} kernel in {f.layer}{' ' + f.branch if f.branch else ''} lies in its "
                                "pattern, or no source unit has the orientation its tuning asks for", location=rule.location,
                                hint="bring the pattern inside the kernel (a smaller radius or offset, or a branch with a larger "
                                     "kernel), or widen the tuning")
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
    for f in spec.families:
        if f.mirror_of is not None:
            mirror_family(graph, f)
    return graph


def family_kernel(f: Family, index: int) -> np.ndarray:
    """A first-layer unit's weights: the kernel turned to its orientation, or for a hue family
    the kernel as written with its colours turned to its hue."""
    if f.axis == "hue":
        return hue_rotated(pixel_kernel(f.kernel.kind, f.kernel.params, 0.0, f.phase_of(index)), f.orientation_of(index))
    return pixel_kernel(f.kernel.kind, f.kernel.params, f.orientation_of(index), f.phase_of(index))


def mirror_family(graph: CircuitGraph, mirror: Family) -> None:
    """Fill in `mirror`'s weights as the left-right mirror image of its original's: every kernel
    flipped along x, every source unit replaced by its own mirror image."""
    original = graph.families[mirror.mirror_of]
    if original.name in graph.pixel_kernels:
        graph.pixel_kernels[mirror.name] = graph.pixel_kernels[original.name][..., ::-1].copy()
    graph.biases[mirror.name] = graph.biases[original.name].copy()
    for (target, source), w in list(graph.weights.items()):
        if target != original.name:
            continue
        partner, order = mirror_sources(graph, graph.families[source], mirror)
        flipped = np.zeros_like(w)
        flipped[:, order] = w[..., ::-1]
        key = (mirror.name, partner)
        graph.weights[key] = graph.weights.get(key, 0) + flipped


def mirror_sources(graph: CircuitGraph, source: Family, mirror: Family) -> tuple[str, np.ndarray]:
    """The family a mirror reads where its original reads `source`, and the unit there that is each
    source unit's mirror image: a declared mirror family unit by unit, else `source`'s own unit at the
    reflected orientation (for pixel kernels: the unit whose kernel is the flipped one)."""
    for f in graph.families.values():
        if f.mirror_of == source.name:
            return f.name, np.arange(source.size)
    if source.mirror_of is not None:
        return source.mirror_of, np.arange(source.size)
    order = np.empty(source.size, dtype=int)
    kernels = graph.pixel_kernels.get(source.name)
    for i in range(source.size):
        if kernels is not None:
            flipped = kernels[i][..., ::-1]
            errors = np.abs(kernels - flipped).reshape(source.size, -1).max(axis=1)
            k = int(errors.argmin())
            found = errors[k] <= 1e-6 * max(np.abs(flipped).max(), 1e-12)
        else:
            want = mirror_angle(source.orientation_of(i), source.period, source.axis)
            matches = [k for k in range(source.size) if abs(wrap(source.orientation_of(k) - want, source.period)) < 1e-6
                       and source.phase_of(k) == source.phase_of(i)]
            k, found = (matches[0], True) if matches else (-1, False)
        if not found:
            raise SpecError(
                f"{mirror.name!r} mirrors {mirror.mirror_of!r}, which reads {source.name!r}; {source.name!r}[{i}] at "
                f"{source.orientation_of(i):g} deg has no mirror image in {source.name!r} (no unit at "
                f"{mirror_angle(source.orientation_of(i), source.period, source.axis):g} deg" + (" with the flipped kernel" if kernels is not None else "") + ")",
                location=mirror.location,
                hint=f"give {source.name!r} orientations symmetric about 90 deg, or declare its mirror: a family with mirror_of: {source.name}",
            )
        order[i] = k
    return source.name, order
