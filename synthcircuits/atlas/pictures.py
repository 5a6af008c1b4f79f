"""The atlas's pictures of each unit: feature visualisations (neuron, channel, a diverse batch),
drawn in batches per layer through the batched engine and saved chunk by chunk; its tuning over
its family's stimuli and its strongest stimuli, from the census."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..census.features import by
from ..census.layer import LayerCensus
from ..census.sheets import stimulus_picture, tuning_chart
from ..opened import OpenedModel
from ..taxonomy import FAMILIES_BY_NAME
from ..viz import Neuron, Request, Settings, visualise_many
from ..viz.objectives import Channel, Diversity
from .assets import Assets, to_pixels
from .plan import AtlasLayer

CHUNK = 32  # requests optimised together and saved before the next chunk starts


@dataclass(frozen=True)
class VisSettings:
    steps: int = 48
    size: int = 64  # the canvas side; neuron pictures are the unit's receptive field plus a margin
    diverse: int = 3  # images in the diverse batch (0: none)

    def key(self) -> list:
        return [self.steps, self.size]


def _request(layer: str, channel: int, kind: str, diverse: int) -> Request:
    if kind == "neuron":
        return Request(Neuron(layer, channel))
    if kind == "channel":
        return Request(Channel(layer, channel))
    return Request(Neuron(layer, channel) + 0.1 * Diversity(layer), images=diverse, seed=1)


def draw_visualisations(source: OpenedModel, layers: Sequence[AtlasLayer], assets: Assets, settings: VisSettings,
                        silent: set[tuple[str, int]] = frozenset()) -> dict:
    """(layer, channel) -> {"neuron": href, "channel": href, "diverse": href}; only missing pictures
    are drawn, and none for silent units (nothing drives them: an optimiser has no gradient to climb)."""
    kinds = ["neuron", "channel"] + (["diverse"] if settings.diverse else [])
    hrefs, todo = {}, []
    for layer in layers:
        for u in layer.units:
            entry = hrefs.setdefault((u.layer, u.channel), {})
            if (u.layer, u.channel) in silent:
                continue
            for kind in kinds:
                key = [u.layer, u.channel, *settings.key()] + ([settings.diverse] if kind == "diverse" else [])
                entry[kind] = assets.href(f"vis-{kind}", key)
                if not assets.has(entry[kind]):
                    todo.append((u.layer, u.channel, kind))
    with tqdm(total=len(todo), desc="feature visualisations", unit="picture", disable=not todo) as bar:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            requests = [_request(layer, channel, kind, settings.diverse) for layer, channel, kind in chunk]
            pictures = visualise_many(source.model, requests, Settings(steps=settings.steps, size=settings.size, canvas="receptive"),
                                      progress=False)
            for (layer, channel, kind), picture in zip(chunk, pictures):
                images = [to_pixels(image) for image in picture.final]
                assets.write(hrefs[(layer, channel)][kind], _strip(images))
            bar.update(len(chunk))
    return hrefs


def _strip(images: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    if len(images) == 1:
        return images[0]
    h = max(i.shape[0] for i in images)
    out = np.full((h, sum(i.shape[1] for i in images) + gap * (len(images) - 1), 3), 255, dtype=np.uint8)
    x = 0
    for image in images:
        out[: image.shape[0], x : x + image.shape[1]] = image
        x += image.shape[1] + gap
    return out


def draw_family_pictures(census: LayerCensus, assets: Assets) -> dict[int, dict[str, str]]:
    """channel -> {"tuning": href, "<kind>": href of its strongest stimulus of that kind} for units with a family."""
    out: dict[int, dict[str, str]] = {}
    for k, unit in enumerate(census.units):
        family = FAMILIES_BY_NAME.get(unit.family)
        if family is None:
            continue
        entry = out.setdefault(unit.channel, {})
        oriented = next((kind for kind in family.stimuli if "orientation" in census.responses.grid(kind)), None)
        if oriented:
            href = assets.href("tuning", [census.layer, unit.channel, oriented])
            if not assets.has(href):
                angles, curves = by(census.responses, oriented)
                assets.write(href, tuning_chart(angles, curves[:, k]))
            entry["tuning"] = href
        rows = census.best_rows(unit, family.stimuli[:2])
        for kind, row in rows.items():
            if census.responses[kind][row, k] <= 0:
                continue
            href = assets.href("stimulus", [kind, row, census.field_px, list(census.centre), list(census.window)])
            if not assets.has(href):
                assets.write(href, stimulus_picture(kind, census.responses.grid(kind), row, census.field_px, census.centre, census.window))
            entry[kind] = href
    return out
