"""Feature-visualisation steps per second for a mixed3b unit: the optimisation runs the
network only up to mixed3b, against a variant that also asks for softmax2 (a full forward).

Run: .venv/bin/python benchmarks/bench_featurevis.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.models import build_model  # noqa: E402
from synthcircuits.models.capture import capture as real_capture  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402
from synthcircuits.viz import featurevis  # noqa: E402

STEPS = 20


def steps_per_second(model, batch: int, full: bool) -> float:
    def full_capture(model, images, layers, **kwargs):
        return real_capture(model, images, list(layers) + ["softmax2"], **kwargs)

    patch = mock.patch.object(featurevis, "capture", full_capture if full else real_capture)
    with patch:
        featurevis.visualise(model, featurevis.Objective("mixed3b", 379), steps=2, size=224, batch=batch, progress=False)
        start = time.perf_counter()
        featurevis.visualise(model, featurevis.Objective("mixed3b", 379), steps=STEPS, size=224, batch=batch, progress=False)
        return STEPS / (time.perf_counter() - start)


def main() -> None:
    model = build_model("inceptionv1", seed=0)
    rows = []
    for batch in (1, 4):
        truncated = steps_per_second(model, batch, full=False)
        full = steps_per_second(model, batch, full=True)
        rows.append([batch, full, truncated, truncated / full])
    print(f"feature visualisation of mixed3b:379 at 224 px, CPU, {torch.get_num_threads()} threads ({STEPS} steps)")
    print(format_table(["batch", "steps/s full forward", "steps/s truncated", "speed-up"], rows))


if __name__ == "__main__":
    main()
