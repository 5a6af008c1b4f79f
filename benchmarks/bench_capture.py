"""Truncated capture vs a full forward of InceptionV1, batch 1 and 32.

Run: .venv/bin/python benchmarks/bench_capture.py [--device cuda]
The bound column is the speed-up truncation could give at most: total conv+linear MACs
divided by the MACs up to that layer. Capture should reach it (no hidden full forward).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.models import build_model, capture  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402


def macs_by_stage(model: nn.Module, size: int = 224) -> dict[str, int]:
    """Multiply-accumulates of each stage, counted with forward hooks on a one-image pass."""
    macs: dict[str, int] = {}
    current = {"stage": None}

    def count(module, inputs, output):
        weight = module.weight
        per_output = weight[0].numel()
        macs[current["stage"]] = macs.get(current["stage"], 0) + output.numel() * per_output

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    from synthcircuits.models.staged import NO_TAP

    h = model.preprocess(torch.rand(1, 3, size, size))
    with torch.no_grad():
        for name, stage in model.stages():
            current["stage"] = name
            h = stage(h, NO_TAP)
    for handle in handles:
        handle.remove()
    return macs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = build_model("inceptionv1", seed=0)
    macs = macs_by_stage(model)
    order = [name for name, _ in model.stages()]
    total = sum(macs.values())
    model = model.to(args.device)
    rows = []
    for batch in (1, 32):
        x = torch.rand(batch, 3, 224, 224, device=args.device)
        full = median_seconds(lambda: model(x), args.repeats)
        rows.append(["full forward", batch, full * 1000, 1.0, 1.0])
        for layer in ("conv2d2", "mixed3b", "mixed4c"):
            upto = sum(macs.get(n, 0) for n in order[: order.index(layer) + 1])
            t = median_seconds(lambda: capture(model, x, [layer]), args.repeats)
            rows.append([f"capture {layer}", batch, t * 1000, full / t, total / upto])
    print(f"InceptionV1 capture vs full forward on {args.device} ({torch.get_num_threads()} threads)")
    print(format_table(["what", "batch", "median ms", "speed-up vs full", "MAC bound"], rows))


if __name__ == "__main__":
    main()
