"""The main job on built-in defaults: everything made here, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import torch

from .models import INCEPTIONV1, build_model, capture
from .runtime import resolve_device, save_npz
from .tables import format_table, layer_table


def synthetic_arc(size: int = 224, radius: float = 60.0, width: float = 4.0) -> torch.Tensor:
    """A black circular arc on white, centred on the image: a curve-detector's favourite input."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    cx, cy = size / 2, size / 2 + radius
    distance = ((xs - cx) ** 2 + (ys - cy) ** 2).sqrt()
    ink = (1 - (distance - radius).abs() / width).clamp(0, 1) * (ys < cy).float()
    return (1 - ink).expand(1, 3, size, size).contiguous()


def run_demo(output_dir: Path, device: str = "cpu") -> int:
    print(layer_table(INCEPTIONV1))
    model = build_model("inceptionv1", seed=0).to(resolve_device(device))
    image = synthetic_arc()
    layers = ["conv2d0", "conv2d2", "mixed3a", "mixed3b"]
    acts = capture(model, image, layers)
    rows = [[n, "x".join(map(str, a.shape[1:])), float(a.mean()), float(a.amax())] for n, a in acts.items()]
    print("\nactivations of a random-weights InceptionV1 (seed 0) on a synthetic arc, run up to mixed3b:")
    print(format_table(["layer", "shape", "mean", "max"], rows))
    out = save_npz({k: v.cpu().numpy() for k, v in acts.items()}, output_dir / "activations.npz")
    print(f"\nsaved {out}")
    return 0
