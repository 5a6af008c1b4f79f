"""What an atlas holds: the chosen layers, every unit of each, and the file each unit's page has.

Page names are flat and relative (`u_LAYER_CHANNEL.html` beside `index.html`), so the folder
can be moved or zipped and every link still holds. Each unit also carries the addresses a
researcher might type into the search box (`mixed3b:379`, `3b:379`, `mixed3b_5x5:59`,
`layer2.1.conv2:7`), all parsed by the architecture in hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UserError
from ..layout.address import unit_at
from ..opened import OpenedModel


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


@dataclass(frozen=True)
class AtlasUnit:
    layer: str
    channel: int
    name: str  # as the model in hand prints it
    branch: str | None
    aliases: tuple[str, ...]  # lower-case addresses that find it

    @property
    def page(self) -> str:
        return f"u_{slug(self.layer)}_{self.channel}.html"


@dataclass(frozen=True)
class AtlasLayer:
    name: str
    units: tuple[AtlasUnit, ...]

    @property
    def page(self) -> str:
        return f"l_{slug(self.name)}.html"


def plan_atlas(source: OpenedModel, text: str) -> list[AtlasLayer]:
    names = list(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    if not names:
        raise UserError("--layers names no layer", hint="e.g. --layers conv2d2,mixed3a,mixed3b")
    arch = source.architecture
    layers = []
    for name in names:
        if source.compact:
            raise UserError(f"{source.label} is a compact build: its atlas would hold only the spec's units without weights pages",
                            hint="build the spec for the inceptionv1 target (the default) and pass that, or pass the spec itself")
        if not arch.has_layer(name):
            raise UserError(f"{arch.name} has no layer {name!r}", hint=f"`synthcircuits layers --arch {arch.name}` lists them")
        layer = arch.layer(name)
        traced = arch.key_scheme == "modules"
        if layer.channels <= 0 or not source.geometry().knows(layer.name) or (not traced and layer.kind not in ("conv", "block")):
            raise UserError(f"{layer.name} is a {layer.kind} layer: an atlas shows layers whose units have a receptive field "
                            "(conv and block layers of a GoogLeNet; any spatial node of a traced network)",
                            hint=f"`synthcircuits layers --arch {arch.name}` lists them")
        layers.append(AtlasLayer(layer.name, tuple(_unit(source, layer, c) for c in range(layer.channels))))
    return layers


def _unit(source: OpenedModel, layer, channel: int) -> AtlasUnit:
    address = unit_at(layer.name, channel, source.architecture)
    aliases = {f"{layer.name}:{channel}"}
    if layer.short:
        aliases.add(f"{layer.short}:{channel}")
    if address.branch is not None and address.local is not None:
        for prefix in {layer.name, layer.short or layer.name}:
            aliases.add(f"{prefix}_{address.branch}:{address.local}")
    return AtlasUnit(layer.name, channel, source.name_of(layer.name, channel), address.branch, tuple(sorted(a.lower() for a in aliases)))
