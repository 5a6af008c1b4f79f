"""Stage 2: which channel of the architecture each unit occupies (pinned, else first free)."""

from __future__ import annotations

from ..language.source import SpecError
from ..layout.address import UnitAddress, unit_at
from .graph import CircuitGraph


def assign_channels(graph: CircuitGraph) -> dict[tuple[str, int], UnitAddress]:
    """(family, index) -> address. Pinned units keep their channel; the rest fill the lowest free ones."""
    arch = graph.architecture
    placed: dict[tuple[str, int], UnitAddress] = {}
    taken: set[tuple[str, int]] = set()
    for f in graph.families.values():
        for i, unit in enumerate(f.units or ()):
            placed[(f.name, i)] = unit
            taken.add((unit.layer, unit.channel))
    for f in graph.families.values():
        if f.units is not None:
            continue
        layer = arch.layer(f.layer)
        start, stop = (layer.branch(f.branch).start, layer.branch(f.branch).stop) if f.branch else (0, layer.channels)
        free = (c for c in range(start, stop) if (layer.name, c) not in taken)
        for i in range(f.size):
            channel = next(free, None)
            if channel is None:
                where = f"{layer.name} {f.branch} branch" if f.branch else layer.name
                raise SpecError(
                    f"{where} has {stop - start} channels; family {f.name!r} does not fit "
                    f"(it needs {f.size}, {sum(1 for c in range(start, stop) if (layer.name, c) in taken)} are taken)",
                    location=f.location,
                    hint="use fewer orientations or phases, or another branch",
                )
            placed[(f.name, i)] = unit_at(layer.name, channel, arch)
            taken.add((layer.name, channel))
    return placed
