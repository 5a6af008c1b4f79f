"""A model named on the command line: a circuit spec (built on the fly) or a weights file.

Either way the result knows how to name a channel of a layer and where an address lives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from .errors import UserError
from .models.address import UnitAddress
from .models.weights import read_weights
from .models.zoo import load_model

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class ModelSource:
    label: str
    model: nn.Module
    # (layer, channel in this model) <-> unit name; InceptionV1-layout models use addresses.
    names: dict[tuple[str, int], str] = field(default_factory=dict)
    layout: str = "inceptionv1"

    def channel_of(self, address: UnitAddress) -> int:
        if self.layout == "inceptionv1":
            return address.channel
        for (layer, channel), name in self.names.items():
            if name == str(address):
                return channel
        raise UserError(f"{self.label} has no unit {address} (a compact build holds only its spec's units)")

    def layer_of(self, inceptionv1_layer: str) -> str:
        """This model's layer playing the part of an InceptionV1 layer (e.g. inception_3b for mixed3b)."""
        if self.layout == "compact":
            return inceptionv1_layer
        return self.model.architecture.equivalent_of(inceptionv1_layer)

    def layer_width(self, layer: str) -> int:
        if self.layout == "compact":
            return next(l.out_channels for l in self.model.layers if l.name == layer)
        return self.model.architecture.layer(layer).channels

    def name_of(self, layer: str, channel: int) -> str:
        return self.names.get((layer, channel), f"{layer}:{channel}")


def open_source(path: Path, device: str = "cpu") -> ModelSource:
    path = Path(path)
    if path.suffix in SPEC_SUFFIXES:
        from .compile import compile_spec
        from .spec import load_spec

        build = compile_spec(load_spec(path), "inceptionv1")
        return ModelSource(f"{path} (compiled)", build.model().to(device))
    model = load_model(path, device=device)
    meta = read_weights(path).metadata
    if meta.get("synthcircuits.architecture") == "compact":
        units = json.loads(meta.get("synthcircuits.units", "[]"))
        names = {(u["layer"], u["channel"]): u["address"] or f"{u['family']}[{u['index']}]" for u in units}
        return ModelSource(str(path), model, names, layout="compact")
    return ModelSource(str(path), model)
