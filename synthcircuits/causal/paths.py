"""Path patching along one edge A -> B: B computes its pre-activation as if A were changed, while
every other reader of A (B's neighbours, the other branches, later layers) sees A as it was.

It takes two runs. The first changes A in the tensor B's layer actually reads (after any
pooling or normalisation between them) and keeps B's branch pre-activation. The second is the
ordinary run, with B's channel of that pre-activation replaced by the first run's. Through a
3x3 or 5x5 branch the first run recomputes the bottleneck, ReLU included, so A reaches B along
exactly the path the network has; expanded weights (`edge_attribution`) are the linear view
of the same path.

    change = Intervention("mixed3a", "zero")           # what happens to A (its point and channel are set here)
    interventions = path_patch(model, images, [Edge(a, b, change)])
    out = run_with_interventions(model, images, interventions, ["softmax2"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..layout.address import UnitAddress
from ..layout.architectures import Architecture
from ..layout.topology import feeds
from .interventions import Intervention, intervened


@dataclass(frozen=True)
class Edge:
    """The connection `source` -> `target`, with `change` the intervention on the source
    (its operation and value; its point, channels and positions are the edge's)."""

    source: UnitAddress
    target: UnitAddress
    change: Intervention
    positions: tuple[tuple[int, int], ...] | None = None  # where on the source's input map; None: everywhere

    def __str__(self) -> str:
        return f"{self.source} -> {self.target}"


def input_point(arch: Architecture, target: UnitAddress) -> str:
    """The hook point whose value `target`'s layer reads: the layer just before it (a pool or a
    normalisation where one sits between, else the feeding layer itself)."""
    return arch.layers[arch.index(target.layer) - 1].name


def pre_activation_point(target: UnitAddress) -> tuple[str, int]:
    """The hook point holding `target`'s pre-activation and its channel there."""
    if target.branch:
        return f"{target.layer}_{target.branch}_pre_relu", int(target.local)
    return f"{target.layer}_pre_relu", target.channel


def check_edge(model: nn.Module, source: UnitAddress, target: UnitAddress) -> None:
    if hasattr(model, "run_tapped"):
        raise UserError(f"path patching {source} -> {target} needs a GoogLeNet layout",
                        hint="traced networks take run-time interventions and attribution; edges are defined between "
                             "a unit and the next conv layer or inception block")
    if not feeds(model.architecture, source, target):
        raise UserError(f"there is no edge {source} -> {target}: {target.layer} does not read {source.layer}",
                        hint="an edge joins a unit to one in the next conv layer or inception block")


def path_patch(model: nn.Module, images: Tensor, edges: Sequence[Edge], others: Sequence[Intervention] = ()) -> list[Intervention]:
    """Interventions that, applied to a run of `images` (with `others`), change each edge and
    nothing else: the target reads its input as the run with `others` has it, with the source
    changed on top.

    Each edge costs one forward as far as its target (no gradients). The result patches the
    targets' pre-activations; pass it to `run_with_interventions` after `others`."""
    arch = model.architecture
    images = images.to(next(model.parameters()).device)
    patches = []
    for edge in edges:
        check_edge(model, edge.source, edge.target)
        point, channel = pre_activation_point(edge.target)
        change = replace(edge.change, point=input_point(arch, edge.target), channels=(edge.source.channel,), positions=edge.positions)
        with torch.no_grad():
            counterfactual = intervened(model, images, [*others, change], [point])[point]
        patches.append(Intervention.patch(point, counterfactual, channels=(channel,)))
    return patches
