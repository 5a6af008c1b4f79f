"""A model in hand, with the architecture its unit addresses are parsed against.

Every command that names units (`vis`, `weights diagram`, `tuning`, `compare`, `report`,
`find`) parses them here, against the model it opened, never against a default layout.
Compact builds hold only a spec's units, under InceptionV1's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .errors import UserError
from .layout.address import UnitAddress, parse_unit, parse_units
from .layout.architectures import INCEPTIONV1, Architecture
from .layout.geometry import Geometry
from .models.weights import WeightFile

SPEC_SUFFIXES = (".yaml", ".yml")


@dataclass
class OpenedModel:
    label: str
    model: nn.Module
    # Compact builds: (layer, channel in this model) -> the unit's name in the spec.
    names: dict[tuple[str, int], str] = field(default_factory=dict)
    compact: bool = False
    file: WeightFile | None = None  # the weights file it was read from (None: compiled from a spec)
    # A compiled spec's units: (layer, channel in this model) -> the census family it was built to be
    # ("" where its spec family names none). Empty for a trained network.
    designed: dict[tuple[str, int], str] = field(default_factory=dict)

    def final_layer(self) -> str:
        """The layer the network ends in (a compact build ends at its last stage)."""
        return self.model.stages()[-1][0] if self.compact else self.architecture.output

    @property
    def architecture(self) -> Architecture:
        return INCEPTIONV1 if self.compact else self.model.architecture

    def geometry(self) -> Geometry:
        return self.model.geometry()

    def parse_unit(self, text: str) -> UnitAddress:
        return parse_unit(text, self.architecture)

    def parse_units(self, text: str) -> list[UnitAddress]:
        units = parse_units(text, self.architecture)
        if not units:
            raise UserError(f"no unit addresses in {text!r}", hint="e.g. " + _example(self.architecture))
        return units

    def channel_of(self, address: UnitAddress) -> int:
        if not self.compact:
            return address.channel
        for (layer, channel), name in self.names.items():
            if name == str(address):
                return channel
        raise UserError(f"{self.label} has no unit {address} (a compact build holds only its spec's units)")

    def layer_of(self, inceptionv1_layer: str) -> str:
        """This model's layer playing the part of an InceptionV1 layer (e.g. inception_3b for mixed3b)."""
        if self.compact or self.architecture.has_layer(inceptionv1_layer):
            return self.architecture.layer(inceptionv1_layer).name if not self.compact else inceptionv1_layer
        try:
            return self.architecture.equivalent_of(inceptionv1_layer)
        except KeyError:
            raise UserError(f"{self.label} ({self.architecture.name}) has no layer like {inceptionv1_layer}",
                            hint="name the layer to compare with (compare --layer-b LAYER)") from None

    def layer_width(self, layer: str) -> int:
        if self.compact:
            return next(l.out_channels for l in self.model.layers if l.name == layer)
        return self.architecture.layer(layer).channels

    def spatial_layers(self, text: str, example: str, kinds: tuple[str, ...] | None = None) -> list[str]:
        """Comma-separated layer names (repeats dropped), each checked to be a layer of this model
        whose units have a receptive field; `kinds` limits a GoogLeNet layout's layers to those kinds
        (a traced network's nodes all qualify)."""
        names = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
        if not names:
            raise UserError("no layer named", hint=f"e.g. {example}")
        if self.compact:
            known = [layer.name for layer in self.model.layers]
            for name in names:
                if name not in known:
                    raise UserError(f"{self.label} (a compact build) has no layer {name!r}", hint="its layers are " + ", ".join(known))
            return names
        arch = self.architecture
        out = []
        for name in names:
            if not arch.has_layer(name):
                raise UserError(f"{arch.name} has no layer {name!r}", hint=f"`synthcircuits layers --arch {arch.name}` lists them")
            layer = arch.layer(name)
            wrong_kind = kinds is not None and arch.key_scheme != "modules" and layer.kind not in kinds
            if layer.channels <= 0 or not self.geometry().knows(layer.name) or wrong_kind:
                raise UserError(f"{layer.name} is a {layer.kind} layer: its units have no " + ("weights and " if kinds else "")
                                + "receptive field to show", hint=f"name a {' or '.join(kinds or ('conv', 'block'))} layer; "
                                f"`synthcircuits layers --arch {arch.name}` lists them")
            out.append(layer.name)
        return out

    def name_of(self, layer: str, channel: int) -> str:
        return self.names.get((layer, channel), f"{layer}:{channel}")


def _example(arch: Architecture) -> str:
    layer = next((l for l in arch.unit_layers() if l.kind in ("block", "conv")), arch.layers[0])
    return f"{layer.name}:0"
