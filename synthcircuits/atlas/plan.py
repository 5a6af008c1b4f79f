"""What an atlas holds: the chosen layers, every unit of each, and the file each unit's page has.

Page names are flat and relative (`u_LAYER_CHANNEL.html` beside `index.html`), so the folder
can be moved or zipped and every link still holds. Each unit also carries the addresses a
researcher might type into the search box (`mixed3b:379`, `3b:379`, `mixed3b_5x5:59`,
`layer2.1.conv2:7`), all parsed by the architecture in hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..layout.address import unit_at
from ..opened import OpenedModel
from ..outputs import safe_name


@dataclass(frozen=True)
class AtlasUnit:
    layer: str
    channel: int
    name: str  # as the model in hand prints it
    branch: str | None
    aliases: tuple[str, ...]  # lower-case addresses that find it

    @property
    def page(self) -> str:
        return f"u_{safe_name(self.layer)}_{self.channel}.html"


@dataclass(frozen=True)
class AtlasLayer:
    name: str
    units: tuple[AtlasUnit, ...]

    @property
    def page(self) -> str:
        return f"l_{safe_name(self.name)}.html"


def plan_atlas(source: OpenedModel, text: str) -> list[AtlasLayer]:
    if source.compact:
        raise UserError(f"{source.label} is a compact build: its units have no InceptionV1 weights pages",
                        hint="build the spec for the inceptionv1 target (the default) and pass that, or pass the spec itself")
    names = source.spatial_layers(text, "--layers conv2d2,mixed3a,mixed3b", kinds=("conv", "block"))
    return [AtlasLayer(name, tuple(_unit(source, source.architecture.layer(name), c) for c in range(source.layer_width(name))))
            for name in names]


def _unit(source: OpenedModel, layer, channel: int) -> AtlasUnit:
    address = unit_at(layer.name, channel, source.architecture)
    aliases = {f"{layer.name}:{channel}"}
    if layer.short:
        aliases.add(f"{layer.short}:{channel}")
    if address.branch is not None and address.local is not None:
        for prefix in {layer.name, layer.short or layer.name}:
            aliases.add(f"{prefix}_{address.branch}:{address.local}")
    return AtlasUnit(layer.name, channel, source.name_of(layer.name, channel), address.branch, tuple(sorted(a.lower() for a in aliases)))
