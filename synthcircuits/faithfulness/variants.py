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
from ..models.spliced import SidePath, circuit_values
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
    """One trained network, one side circuit, and the units it replaces (all in `layer`).

    The replaced layer runs once per batch, trained: a variant only changes the replaced units'
    channels of its output (their ReLU of the chosen pre-activations; every other channel is the
    trained one, bit for bit), and the stages above run per variant."""

    def __init__(self, trained: nn.Module, circuit: nn.Module, paths: Sequence[SidePath], units: Sequence[UnitAddress],
                 readout: str):
        self.trained, self.circuit, self.paths, self.units, self.readout = trained.eval(), circuit.eval(), tuple(paths), tuple(units), readout
        self.layer = self.paths[0].layer
        names = [name for name, _ in trained.stages()]
        self.replaced_stage = names.index(self.layer)
        self.last = trained.architecture.classifier

    def to(self, device: str) -> SplicedRuns:
        return SplicedRuns(self.trained.to(device), self.circuit.to(device), self.paths, self.units, self.readout)

    def trunk(self, images: Tensor, with_circuit: bool = True) -> tuple[Tensor, Tensor, Tensor | None]:
        """The replaced layer's trained output, the replaced units' trained activations (N, k, H, W)
        and (`with_circuit`) the circuit's pre-activations for them, in slot order."""
        fork = self.paths[0].fork  # one circuit: its paths share a fork
        start = images
        h = self.trained.preprocess(images)
        for name, stage in self.trained.stages()[: self.replaced_stage + 1]:
            h = stage(h, NO_TAP)
            if name == fork:
                start = h
        device = images.device
        if not with_circuit:
            return h, h.index_select(1, self._channels(device)), None
        circuit = torch.cat(circuit_values(self.circuit, self.paths, start), 1)
        return h, h.index_select(1, self._channels(device)), circuit

    def _channels(self, device) -> Tensor:
        return torch.tensor([u.channel for u in self.units], device=device)

    def run(self, out: Tensor, sources: Sequence[str] | None = None, circuit: Tensor | None = None, means: Tensor | None = None
            ) -> tuple[Tensor, Tensor]:
        """(logits, the readout layer's activations) from the replaced layer's trained output
        `out`, each unit from its source (None: all trained)."""
        if sources is not None and any(s != "trained" for s in sources):
            out = out.index_copy(1, self._channels(out.device), self.replacement(out, sources, circuit, means))
        tap = Tap([self.readout])
        h = out
        for name, stage in self.trained.stages()[self.replaced_stage + 1 :]:
            h = tap(name, stage(h, tap))
            if name == self.last:
                break
        return h, tap.values[self.readout]

    def replacement(self, out: Tensor, sources: Sequence[str], circuit: Tensor, means: Tensor | None) -> Tensor:
        """The replaced units' activations (N, k, H, W): each its source's pre-activation through the ReLU."""
        kept = out.index_select(1, self._channels(out.device))
        columns = []
        for j, source in enumerate(sources):
            if source == "trained":
                columns.append(kept[:, j])
            elif source == "zero":
                columns.append(torch.zeros_like(kept[:, j]))
            elif source == "mean":
                columns.append(torch.full_like(kept[:, j], float(means[j])).clamp(min=0))
            else:
                columns.append(torch.relu(circuit[:, j]))
        return torch.stack(columns, 1)
