"""The networks a faithfulness measurement compares, run over one batch with the trunk shared.

Every variant is the trained network with the replaced units' pre-activations taken from one
source per unit: `trained` (left alone), `zero` (silenced), `mean` (their mean activation over
the images) or `circuit` (the side circuit's values on the same image). Below the replaced
layer all variants are the trained network, so that part (and the side circuit) runs once per
batch; from the layer up, each variant runs on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..layout.address import UnitAddress
from ..models.spliced import ReplacingTap, SidePath, circuit_values
from ..models.staged import NO_TAP, Tap

SOURCES = ("trained", "zero", "mean", "circuit")


@dataclass(frozen=True)
class Variant:
    name: str  # "zero", "mean", "circuit"; a unit alone: "u3.mean", "u3.circuit"
    sources: tuple[str, ...]  # per replaced unit, one of SOURCES


def variants_for(count: int, per_unit: bool) -> list[Variant]:
    """Silenced, mean-ablated and spliced (every unit at once), then, with `per_unit`, each unit
    alone mean-ablated and alone spliced with the others trained."""
    found = [Variant(source, (source,) * count) for source in ("zero", "mean", "circuit")]
    if per_unit:
        for j in range(count):
            for source in ("mean", "circuit"):
                found.append(Variant(f"u{j}.{source}", tuple(source if k == j else "trained" for k in range(count))))
    return found


class SplicedRuns:
    """One trained network, one side circuit, and the units it replaces (all in `layer`)."""

    def __init__(self, trained: nn.Module, circuit: nn.Module, paths: Sequence[SidePath], units: Sequence[UnitAddress],
                 readout: str):
        self.trained, self.circuit, self.paths, self.units, self.readout = trained.eval(), circuit.eval(), tuple(paths), tuple(units), readout
        self.layer = self.paths[0].layer
        names = [name for name, _ in trained.stages()]
        self.first_replaced = names.index(self.layer)
        self.last = trained.architecture.classifier
        # unit j lives in path slot[j] = (path index, position among that path's channels)
        self.slots = [(p, k) for p, path in enumerate(self.paths) for k in range(len(path.channels))]

    def to(self, device: str) -> SplicedRuns:
        return SplicedRuns(self.trained.to(device), self.circuit.to(device), self.paths, self.units, self.readout)

    def trunk(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The replaced layer's input, and each path's circuit values, for `images`."""
        kept = {"": images}
        forks = {p.fork for p in self.paths}
        h = self.trained.preprocess(images)
        for name, stage in self.trained.stages()[: self.first_replaced]:
            h = stage(h, NO_TAP)
            if name in forks:
                kept[name] = h
        device = images.device
        values = [circuit_values(self.circuit, path, kept[path.fork or ""], torch.tensor(path.circuit_channels, device=device))
                  for path in self.paths]
        return h, values

    def observed(self, images: Tensor) -> list[Tensor]:
        """Each path's replaced units in the trained network: their activations (after the ReLU)."""
        points = [path.point.removesuffix("_pre_relu") for path in self.paths]
        tap = Tap(points)
        h = self.trained.preprocess(images)
        for name, stage in self.trained.stages()[: self.first_replaced + 1]:
            h = tap(name, stage(h, tap))
        return [tap.values[point].index_select(1, torch.tensor(path.channels, device=h.device)) for point, path in zip(points, self.paths)]

    def run(self, h: Tensor, sources: Sequence[str] | None = None, circuit: Sequence[Tensor] = (), means: Sequence[Tensor] = ()
            ) -> tuple[Tensor, Tensor]:
        """(logits, the readout layer's activations) from the replaced layer's input `h`, each unit
        from its source (None: the trained network)."""
        tap = Tap([self.readout])
        if sources is not None:
            for p, path in enumerate(self.paths):
                values, where = self._replacement(p, sources, circuit[p], means[p] if means else None)
                if where is not None and bool(where.any()):
                    tap = ReplacingTap(tap, path.point, torch.tensor(path.channels, device=h.device), values, where)
        for name, stage in self.trained.stages()[self.first_replaced :]:
            h = tap(name, stage(h, tap))
            if name == self.last:
                break
        return h, tap.values[self.readout]

    def _replacement(self, p: int, sources: Sequence[str], circuit: Tensor, means: Tensor | None) -> tuple[Tensor, Tensor]:
        """Path `p`'s replacement values (N, k, H, W) and where they apply ((N, k) booleans)."""
        own = [sources[j] for j, (q, _) in enumerate(self.slots) if q == p]
        values = torch.zeros_like(circuit)
        for k, source in enumerate(own):
            if source == "circuit":
                values[:, k] = circuit[:, k]
            elif source == "mean":
                values[:, k] = means[k]
        where = torch.tensor([source != "trained" for source in own], device=circuit.device)
        return values, where.expand(circuit.shape[0], -1)
