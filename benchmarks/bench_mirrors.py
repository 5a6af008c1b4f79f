"""The cost of left-right symmetry, against the pass it doubles, in the same run on the same model:
- `mirrors` over the census battery (every stimulus and its flip, every unit of the layer) against
  the census battery once (`measure_battery`, the same stimuli and units, no flips);
- an edit's effect with `--mirror` (every image also flipped) against without, over the same images;
- the picture checks of specs/mirror_pathways.yaml against building the spec.

Run: .venv/bin/python benchmarks/bench_mirrors.py [--weights FILE] [--device cuda]
(default: a random InceptionV1, the same architecture and cost as the trained one)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.census.battery import measure_battery  # noqa: E402
from synthcircuits.commands.common import open_model  # noqa: E402
from synthcircuits.commands.mirrors import _from_battery  # noqa: E402
from synthcircuits.commands.verify import verify_spec  # noqa: E402
from synthcircuits.compile import compile_spec  # noqa: E402
from synthcircuits.dataset.items import Item  # noqa: E402
from synthcircuits.edit.effect import measure_effect  # noqa: E402
from synthcircuits.models import build_model  # noqa: E402
from synthcircuits.opened import OpenedModel  # noqa: E402
from synthcircuits.probe.tuning import ProbeUnit  # noqa: E402
from synthcircuits.language import load_spec  # noqa: E402
from synthcircuits.symmetry.answers import mirror_safe_side  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=32)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    source = open_model(args.weights, args.device) if args.weights else \
        OpenedModel("random inceptionv1", build_model("inceptionv1", seed=0).to(args.device))
    arch, rows = source.architecture, []
    for name in ("mixed3a", "mixed4a"):
        layer = arch.layer(name).name if arch.has_layer(name) else arch.equivalent_of(name)
        width = source.layer_width(layer)
        units = [ProbeUnit(f"{layer}:{c}", layer, c) for c in range(width)]
        side, _ = mirror_safe_side(source.geometry(), [layer])
        battery = median_seconds(lambda: measure_battery(source.model, units, source.geometry()), repeats=args.repeats)
        mirrors = median_seconds(lambda: _from_battery(source, [layer], side), repeats=args.repeats)
        rows.append([f"mirrors {layer} ({width} units, 721 stimuli)", f"{battery:.2f}", f"{mirrors:.2f}", f"{mirrors / battery:.2f}x"])

    edited = build_model(arch.name if not source.compact else "inceptionv1", seed=1).to(args.device)
    with tempfile.TemporaryDirectory() as folder:
        batch = Path(folder) / "images.npy"
        import numpy as np

        np.save(batch, torch.rand(args.images, 3, 224, 224, generator=torch.Generator().manual_seed(0)).numpy())
        items = [Item(batch, row=k) for k in range(args.images)]
        plain = median_seconds(lambda: measure_effect(source.model, edited, items, workers=0), repeats=args.repeats)
        mirrored = median_seconds(lambda: measure_effect(source.model, edited, items, workers=0, mirror=True), repeats=args.repeats)
    rows.append([f"edit effect, {args.images} images", f"{plain:.2f}", f"{mirrored:.2f}", f"{mirrored / plain:.2f}x"])

    spec = load_spec(SPECS / "mirror_pathways.yaml")
    build = median_seconds(lambda: compile_spec(spec).model(), repeats=args.repeats)
    checks = median_seconds(lambda: verify_spec(spec), repeats=args.repeats)
    rows.append(["mirror_pathways.yaml: build vs build + its 6 checks", f"{build:.2f}", f"{checks:.2f}", f"{checks / build:.2f}x"])
    print(f"{source.label}: median of {args.repeats}")
    print(format_table(["what", "baseline s", "with flips s", "ratio"], rows))


if __name__ == "__main__":
    main()
