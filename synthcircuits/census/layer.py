"""One layer's census: the battery through every unit at once, the features, the families."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn

from ..layout.geometry import Geometry
from ..probe.tuning import ProbeUnit, stimulus_centre
from ..taxonomy import FAMILY_TABLE, UnitFamily
from .battery import SIZE, LayerResponses, measure_battery
from .classify import CensusUnit, classify_units
from .features import unit_features


@dataclass
class LayerCensus:
    layer: str
    field_px: int  # receptive field width
    window: tuple[int, int]  # the centre unit's receptive field on the SIZE px canvas: first and last pixel
    centre: tuple[float, float]  # where the battery's stimuli are centred on that canvas
    units: list[CensusUnit]
    features: dict[str, np.ndarray]
    responses: LayerResponses

    def members(self, family: str) -> list[CensusUnit]:
        """The family's units, most confident first."""
        return sorted((u for u in self.units if u.family == family), key=lambda u: -u.confidence)

    def best_rows(self, unit: CensusUnit, kinds: Sequence[str]) -> dict[str, int]:
        """For each kind, the grid row of the unit's strongest answer."""
        k = self.units.index(unit)
        return {kind: int(self.responses[kind][:, k].argmax()) for kind in kinds}


def census_layer(model: nn.Module, geometry: Geometry, layer: str, channels: Sequence[int], names: Sequence[str],
                 branches: Sequence[str | None], table: Sequence[UnitFamily] = FAMILY_TABLE, progress: bool = False,
                 extra: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None) -> LayerCensus:
    """`extra` adds features the battery cannot give (e.g. from dataset evidence) before the
    rules are read."""
    units = [ProbeUnit(name, layer, c) for name, c in zip(names, channels)]
    responses = measure_battery(model, units, geometry, progress=progress)
    features = unit_features(responses)
    if extra is not None:
        features.update(extra(features))
    field_px = responses.scale.field_px
    rows = classify_units(features, names, layer, channels, branches, field_px, table)
    lo, hi = geometry.input_span(layer, geometry.centre_position(layer, SIZE))
    return LayerCensus(layer, field_px, (max(0, lo), min(SIZE - 1, hi)), stimulus_centre(layer, SIZE, geometry), rows, features, responses)
