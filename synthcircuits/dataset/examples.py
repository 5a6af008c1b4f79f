"""Dataset examples, as the Circuits articles use them: per unit, the images that excite it most
(with the receptive-field crop at the strongest position), its activation statistics over the
dataset, and examples sampled from activation bins in standard deviations above the mean.

The job keeps, per image and unit, only the unit's largest activation over positions and where
it was; whole layers run in one pass. The summary streams over the shards twice (statistics,
then quantiles and bin samples), so its memory is a shard plus a few rows per unit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..models.capture import capture
from ..models.weights import content_hash
from .runner import read_shards

QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)
HISTOGRAM_BINS = 4096  # quantiles are read off a histogram between each unit's min and max


@dataclass(frozen=True)
class LayerUnits:
    """Units of one layer, by channel of the model in hand, with the names they print as."""

    layer: str
    channels: tuple[int, ...]
    names: tuple[str, ...]


class ExamplesJob:
    """Per image: each unit's largest activation and its position (row-major in the layer's map)."""

    def __init__(self, model: nn.Module, units: Sequence[LayerUnits]):
        self.model, self.units = model.eval(), list(units)

    def to(self, device: str) -> ExamplesJob:
        return ExamplesJob(self.model.to(device), self.units)

    def describe(self) -> dict:
        return {"kind": "dataset-examples", "model_sha256": content_hash(self.model.state_dict()),
                "units": [[u.layer, list(u.channels)] for u in self.units]}

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        device = next(self.model.parameters()).device
        with torch.no_grad():
            acts = capture(self.model, images.to(device, non_blocking=True), [u.layer for u in self.units])
        out = {}
        for u in self.units:
            values = acts[u.layer][:, list(u.channels)].flatten(2)  # (N, units, positions)
            best, where = values.max(dim=2)
            out[f"{u.layer}.max"] = best.float().cpu().numpy()
            out[f"{u.layer}.argmax"] = where.int().cpu().numpy()
            out[f"{u.layer}.width"] = np.full(len(images), acts[u.layer].shape[-1], dtype=np.int32)
        return out


@dataclass
class UnitSummary:
    """One layer's units over the dataset: statistics (per unit) and examples (rows)."""

    layer: LayerUnits
    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    quantiles: np.ndarray  # (len(QUANTILES), units)
    examples: list[dict]  # kind, unit, rank/bin, item, activation, z, y, x


def summarise(paths: Sequence, layers: Sequence[LayerUnits], top: int = 9, bins: int = 6, per_bin: int = 4) -> list[UnitSummary]:
    """Statistics, top-k and sigma-binned samples for every unit, from the shards."""
    return [_summarise_layer(paths, layer, top, bins, per_bin) for layer in layers]


def _summarise_layer(paths, layer: LayerUnits, top: int, bins: int, per_bin: int) -> UnitSummary:
    key = layer.layer
    n_units = len(layer.channels)
    count = 0
    total = np.zeros(n_units)
    squares = np.zeros(n_units)
    low = np.full(n_units, np.inf)
    high = np.full(n_units, -np.inf)
    best = _Kept(top, n_units, largest=True)
    for shard in _shards_with(paths, key):
        values = shard[f"{key}.max"].astype(np.float64)
        count += len(values)
        # Summed one image after another (cumsum is sequential): the same order, so the same
        # float64 result, whatever the shard size a run used or resumed with.
        total = np.cumsum(np.vstack([total[None], values]), axis=0)[-1]
        squares = np.cumsum(np.vstack([squares[None], values * values]), axis=0)[-1]
        low, high = np.minimum(low, values.min(0)), np.maximum(high, values.max(0))
        best.offer(values, shard["index"], shard[f"{key}.argmax"], shard[f"{key}.width"])
    if count == 0:
        empty = np.zeros(n_units)
        return UnitSummary(layer, empty, empty, empty, empty, empty, np.zeros((len(QUANTILES), n_units)), [])
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    histogram = np.zeros((HISTOGRAM_BINS, n_units), dtype=np.int64)
    span = np.where(high > low, high - low, 1.0)
    sampled = [_Kept(per_bin, n_units, largest=False) for _ in range(bins)]
    for shard in _shards_with(paths, key):
        values = shard[f"{key}.max"].astype(np.float64)
        slots = np.clip(((values - low) / span * HISTOGRAM_BINS).astype(np.int64), 0, HISTOGRAM_BINS - 1)
        np.add.at(histogram, (slots, np.arange(n_units)[None, :].repeat(len(values), 0)), 1)
        sigma = np.floor((values - mean) / np.where(std > 0, std, 1.0))
        order = _stable_hash(shard["index"])[:, None].repeat(n_units, 1)  # a sample that does not depend on shard order
        for b, kept in enumerate(sampled):
            in_bin = (sigma == b) if b < bins - 1 else (sigma >= b)
            kept.offer(np.where(in_bin, order, np.inf), shard["index"], shard[f"{key}.argmax"], shard[f"{key}.width"], values)
    quantiles = _quantiles(histogram, low, span, count)
    rows = best.rows("top", layer, mean, std)
    for b, kept in enumerate(sampled):
        rows += kept.rows("sigma", layer, mean, std, bin_=b)
    return UnitSummary(layer, np.full(n_units, count), mean, std, low, high, quantiles, rows)


class _Kept:
    """The k best rows per unit seen so far (by score), merged shard by shard."""

    def __init__(self, k: int, units: int, largest: bool):
        self.k, self.largest = k, largest
        self.score = np.empty((0, units))
        self.index = np.empty((0, units), dtype=np.int64)
        self.position = np.empty((0, units), dtype=np.int64)
        self.width = np.empty((0, units), dtype=np.int64)
        self.value = np.empty((0, units))

    def offer(self, score, index, argmax, width, value=None) -> None:
        units = score.shape[1]
        value = score if value is None else value
        self.score = np.concatenate([self.score, score])
        self.index = np.concatenate([self.index, index[:, None].repeat(units, 1)])
        self.position = np.concatenate([self.position, argmax.astype(np.int64)])
        self.width = np.concatenate([self.width, width[:, None].repeat(units, 1).astype(np.int64)])
        self.value = np.concatenate([self.value, value])
        # Order by score, ties by item index, so the result is the same in any shard order.
        keys = (-self.score if self.largest else self.score)
        order = np.lexsort((self.index, keys), axis=0)[: self.k]
        for name in ("score", "index", "position", "width", "value"):
            setattr(self, name, np.take_along_axis(getattr(self, name), order, axis=0))

    def rows(self, kind: str, layer: LayerUnits, mean, std, bin_: int = -1) -> list[dict]:
        rows = []
        for u, (channel, name) in enumerate(zip(layer.channels, layer.names)):
            for rank in range(len(self.score)):
                if not np.isfinite(self.score[rank, u]):
                    continue
                width = int(self.width[rank, u])
                y, x = divmod(int(self.position[rank, u]), width)
                value = float(self.value[rank, u])
                rows.append({"layer": layer.layer, "channel": channel, "unit": name, "kind": kind, "bin": bin_, "rank": rank,
                             "item": int(self.index[rank, u]), "activation": value,
                             "sigma": float((value - mean[u]) / std[u]) if std[u] > 0 else 0.0, "y": y, "x": x})
        return rows


def _shards_with(paths, key: str):
    for shard in read_shards(paths):
        if f"{key}.max" in shard and len(shard["index"]):
            yield shard


def _stable_hash(indices: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random order of item indices (the same on every machine and run)."""
    return np.array([int.from_bytes(hashlib.sha256(int(i).to_bytes(8, "little")).digest()[:6], "little") for i in indices],
                    dtype=np.float64)


def _quantiles(histogram: np.ndarray, low: np.ndarray, span: np.ndarray, count: int) -> np.ndarray:
    cumulative = np.cumsum(histogram, axis=0)
    out = np.zeros((len(QUANTILES), histogram.shape[1]))
    for q, fraction in enumerate(QUANTILES):
        slot = (cumulative >= fraction * count).argmax(axis=0)
        out[q] = low + (slot + 0.5) / HISTOGRAM_BINS * span
    return out
