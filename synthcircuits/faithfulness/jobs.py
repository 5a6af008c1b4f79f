"""The two passes of a faithfulness measurement, as dataset-runner jobs (sharded, resumable,
on Ray where asked): the replaced units' mean activations, then every variant network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..edit.effect import predictions
from ..models.weights import content_hash
from .variants import SplicedRuns, Variant


def _identity(runs: SplicedRuns) -> dict:
    return {"trained_sha256": content_hash(runs.trained.state_dict()), "circuit_sha256": content_hash(runs.circuit.state_dict()),
            "units": [str(u) for u in runs.units], "paths": [p.as_json() for p in runs.paths], "readout": runs.readout}


class MeansJob:
    """Per image: each replaced unit's activation in the trained network, averaged over positions."""

    def __init__(self, runs: SplicedRuns):
        self.runs = runs

    def to(self, device: str) -> MeansJob:
        return MeansJob(self.runs.to(device))

    def describe(self) -> dict:
        return {"kind": "faithfulness-means", **_identity(self.runs)}

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        with torch.no_grad():
            _, observed, _ = self.runs.trunk(images.to(next(self.runs.trained.parameters()).device), with_circuit=False)
        return {"unit_means": observed.double().mean((2, 3)).cpu().numpy()}


class VariantsJob:
    """Per image and variant: its top-5 classes, KL(trained || variant), and the sums from which
    the readout layer's correlation with the trained network's is pooled."""

    def __init__(self, runs: SplicedRuns, variants: Sequence[Variant], means: Sequence[float], valid: range):
        self.runs, self.variants, self.means, self.valid = runs, tuple(variants), tuple(float(m) for m in means), valid

    def to(self, device: str) -> VariantsJob:
        return VariantsJob(self.runs.to(device), self.variants, self.means, self.valid)

    def describe(self) -> dict:
        return {"kind": "faithfulness", **_identity(self.runs), "variants": [v.name for v in self.variants],
                "means": [float(np.float32(m)) for m in self.means]}

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        runs = self.runs
        device = next(runs.trained.parameters()).device
        means = torch.tensor(self.means, dtype=torch.float32, device=device)
        with torch.no_grad():
            replaced_layer, _, circuit = runs.trunk(images.to(device))
            logits, readout = runs.run(replaced_layer)
            log_p = torch.log_softmax(logits.double(), 1)
            out = {"trained.top5": predictions(log_p.exp(), 5, self.valid).cpu().numpy(),
                   "readout.count": np.full(len(images), readout[0].numel(), dtype=np.int64)}
            x = readout.double().flatten(1)
            for variant in self.variants:
                other_logits, other_readout = runs.run(replaced_layer, variant.sources, circuit, means)
                log_q = torch.log_softmax(other_logits.double(), 1)
                y = other_readout.double().flatten(1)
                out[f"{variant.name}.top5"] = predictions(log_q.exp(), 5, self.valid).cpu().numpy()
                out[f"{variant.name}.kl"] = (log_p.exp() * (log_p - log_q)).sum(1).cpu().numpy()
                out[f"{variant.name}.readout"] = torch.stack([x.sum(1), y.sum(1), (x * x).sum(1), (y * y).sum(1), (x * y).sum(1)], 1).cpu().numpy()
        return out
