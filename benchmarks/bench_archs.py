"""Truncated capture and unit-level (receptive-field crop) probing on traced networks, next to
InceptionV1, as ratios against a full forward in the same run; and `find` on a whole layer.

    .venv/bin/python benchmarks/bench_archs.py [--device cuda] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.models import build_model, capture  # noqa: E402
from synthcircuits.probe.classify import classify_layer  # noqa: E402
from synthcircuits.probe.crop_forward import crop_activations  # noqa: E402
from synthcircuits.probe.tuning import ProbeUnit  # noqa: E402
from synthcircuits.probe.unit_forward import unit_activations  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

CASES = [("inceptionv1", "mixed3b"), ("torchvision:resnet50", "layer2"), ("torchvision:vgg16", "features.16")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="one repeat, batch 1 and 8")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    batches = (1, 8) if args.quick else (1, 32)
    rows = []
    for arch, layer in CASES:
        model = build_model(arch, seed=0).to(args.device)
        geometry = model.geometry()
        p = geometry.centre_position(layer, 224)
        for batch in batches:
            x = torch.rand(batch, 3, 224, 224, device=args.device)
            with torch.no_grad():
                full = median_seconds(lambda: model(x), repeats)
                truncated = median_seconds(lambda: capture(model, x, [layer]), repeats)
                if arch == "inceptionv1":
                    unit = median_seconds(lambda: unit_activations(model, x, layer, [379], p), repeats)
                else:
                    unit = median_seconds(lambda: crop_activations(model, x, layer, [5], p), repeats)
            rows.append([arch, layer, batch, full * 1000, truncated * 1000, full / truncated, unit * 1000, full / unit])
    print(format_table(["model", "layer", "batch", "full ms", "truncated ms", "x", "unit-level ms", "x"], rows))
    print("\nfind (curves) on a whole layer, CPU threads:", torch.get_num_threads())
    find_rows = []
    for arch, layer in CASES:
        model = build_model(arch, seed=0).to(args.device)
        width = model.architecture.layer(layer).channels
        units = [ProbeUnit(f"{layer}:{c}", layer, c) for c in range(width)]
        start = time.perf_counter()
        classify_layer(model, units, [None] * width, "curves")
        find_rows.append([arch, layer, width, time.perf_counter() - start])
    print(format_table(["model", "layer", "units", "find s"], find_rows))


if __name__ == "__main__":
    main()
