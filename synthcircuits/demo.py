"""The main job on built-in defaults: everything made here, nothing downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .compile import compile_spec
from .compile.lower import compact_index
from .models import capture
from .runtime import resolve_device
from .spec import load_spec
from .tables import format_table

SHIPPED_SPECS = Path(__file__).resolve().parent.parent / "specs"
DEFAULT_SPEC = SHIPPED_SPECS / "small_curves.yaml"


def synthetic_arc(orientation: float, size: int = 224, radius: float = 40.0, width: float = 4.0, span: float = 60.0) -> torch.Tensor:
    """A black arc on white through the image centre, its convex side facing `orientation` (degrees)."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    x, y = xs - size / 2, size / 2 - ys  # y up
    t = np.deg2rad(orientation)
    cx, cy = -radius * np.cos(t), -radius * np.sin(t)  # centre of curvature, behind the convex side
    distance = ((x - cx) ** 2 + (y - cy) ** 2).sqrt()
    angle = torch.rad2deg(torch.atan2(y - cy, x - cx)) - orientation
    on_arc = ((angle + 180) % 360 - 180).abs() <= span
    ink = (1 - ((distance - radius).abs() - width / 2).clamp(min=0)).clamp(0, 1) * on_arc
    return (1 - ink).expand(3, size, size).contiguous()


def run_demo(output_dir: Path, device: str = "cpu", spec_path: Path = DEFAULT_SPEC) -> int:
    spec = load_spec(spec_path)
    build = compile_spec(spec, "inceptionv1")
    print(build.summary())
    path = build.save(output_dir / f"{spec.name}.safetensors")
    compact = compile_spec(spec, "compact")
    compact_path = compact.save(output_dir / f"{spec.name}.compact.safetensors")
    print(f"\nsaved {path} and {compact_path}")

    curves = [u for u in build.units if u.family == "early_curve"]
    orientations = [u.orientation for u in curves]
    stimuli = torch.stack([synthetic_arc(o) for o in orientations])
    dev = resolve_device(device)
    full = capture(build.model().to(dev), stimuli, ["mixed3a"])["mixed3a"]
    small = capture(compact.model().to(dev), stimuli, ["mixed3a"])["mixed3a"]
    centre = full.shape[-1] // 2
    index = compact_index(compact.graph)
    responses = full[:, [u.channel for u in curves], centre, centre].cpu()
    compact_responses = small[:, [index[(u.family, u.index)] for u in curves], centre, centre].cpu()
    rows = []
    for k, (o, row) in enumerate(zip(orientations, responses)):
        best = int(row.argmax())
        rows.append([f"arc facing {o:g} deg", f"{curves[best].address} ({curves[best].orientation:g} deg)",
                     float(row[best]), float(row.sum() - row[best]) / max(len(row) - 1, 1), int(compact_responses[k].argmax()) == best])
    print("\nearly-curve units on synthetic arcs (response at the image centre):")
    print(format_table(["stimulus", "strongest unit", "its response", "mean of the others", "compact agrees"], rows))
    return 0
