"""The cost of a faithfulness measurement, against the edit effect report and plain forwards over
the same images, in the same run on the same model:
- one forward of the trained network over the images (the unit of cost);
- `edit --images`'s effect report for silencing the units (two networks: trained and edited);
- `faithfulness` without per-unit runs (a means pass, then four networks: trained, silenced,
  mean-ablated, spliced; the trunk below the replaced layer and the replaced layer run once);
- `faithfulness` with each unit alone mean-ablated and spliced (2 more networks per unit).

Run: .venv/bin/python benchmarks/bench_faithfulness.py [--weights bvlc.safetensors --circuit specs/splices/bvlc_curves_3b.yaml]
(default: a random InceptionV1 and a patch spec that rebuilds its ten 3b curve units through
claimed 5x5 bottleneck channels, the shape of a decompiled draft)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.commands.common import open_model  # noqa: E402
from synthcircuits.dataset.items import Item  # noqa: E402
from synthcircuits.dataset.shards import RunOptions  # noqa: E402
from synthcircuits.edit.effect import measure_effect  # noqa: E402
from synthcircuits.faithfulness import measure_faithfulness, open_circuit  # noqa: E402
from synthcircuits.layout.address import parse_unit  # noqa: E402
from synthcircuits.layout.keys import conv_key, conv_row  # noqa: E402
from synthcircuits.models import build_model, save_safetensors  # noqa: E402
from synthcircuits.models.zoo import model_from_state_dict  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

CURVES = ["3b:342", "3b:388", "3b:324", "3b:340", "3b:330", "3b:349", "3b:379", "3b:406", "3b:385", "3b:343"]


def default_circuit(folder: Path, weights: Path) -> Path:
    path = folder / "patch.yaml"
    path.write_text(f"""synthcircuits: 1
name: bench-patch
base: {weights}
bottleneck_channels: {{mixed3b_5x5: [{', '.join(str(c) for c in range(16, 32))}]}}
families:
  - {{name: kept, layer: mixed3a, keep: true, period: 360, units: [{', '.join(f'3a:{c}' for c in range(64, 80))}],
     orientations: [{', '.join(str(22.5 * k) for k in range(16))}]}}
  - name: curve
    layer: mixed3b
    units: [{', '.join(CURVES)}]
    orientations: [{', '.join(str(36 * k) for k in range(10))}]
    period: 360
    inputs: [{{from: kept, along_arc: {{radius: 2, width: 1}}, tuning: {{excite: 1, inhibit: 0.5, width_deg: 30}}, gain: 2}}]
""")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--circuit", type=Path, default=None, help="a spec reimplementing units of --weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=64)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.weights is None:
            weights = save_safetensors(build_model("inceptionv1", seed=0).state_dict(), folder / "random.safetensors")
            circuit, label = default_circuit(folder, weights), "random inceptionv1, a 10-unit 3b patch"
        else:
            weights, circuit, label = args.weights, args.circuit, f"{args.weights.name}, {args.circuit.name}"
        trained = open_model(weights, args.device).model
        side = open_circuit(circuit, trained.state_dict(), trained.architecture, [])
        units = [parse_unit(text, trained.architecture) for text in side.units]
        silenced_state = {k: v.clone() for k, v in trained.state_dict().items()}
        for unit in units:
            silenced_state[f"{conv_key(unit)}.weight"][conv_row(unit)] = 0
            silenced_state[f"{conv_key(unit)}.bias"][conv_row(unit)] = 0
        silenced = model_from_state_dict(silenced_state, trained.architecture.name).to(args.device)
        batch = folder / "images.npy"
        np.save(batch, torch.rand(args.images, 3, 224, 224, generator=torch.Generator().manual_seed(0)).numpy())
        items = [Item(batch, row=k) for k in range(args.images)]
        x = torch.rand(16, 3, 224, 224, device=args.device)
        forward = median_seconds(lambda: trained(x), repeats=args.repeats) * args.images / 16
        options = RunOptions(batch_size=16, workers=0, progress=False, device=args.device)
        effect = median_seconds(lambda: measure_effect(trained, silenced, items, workers=0), repeats=args.repeats)
        four = median_seconds(lambda: measure_faithfulness(trained, side, items, options=options, per_unit=False), repeats=args.repeats)
        every = median_seconds(lambda: measure_faithfulness(trained, side, items, options=options), repeats=args.repeats)
    n = len(units)
    rows = [["one forward of the trained network", 1, f"{forward:.2f}", "1.00", f"{forward / effect:.2f}x"],
            ["edit effect report (silenced units)", 2, f"{effect:.2f}", f"{effect / forward:.2f}", "1.00x"],
            ["faithfulness, no per-unit runs", 4, f"{four:.2f}", f"{four / forward:.2f}", f"{four / effect:.2f}x"],
            [f"faithfulness, each of {n} units alone too", 4 + 2 * n, f"{every:.2f}", f"{every / forward:.2f}", f"{every / effect:.2f}x"]]
    print(f"{label}, {args.images} images, {args.device}: median of {args.repeats}")
    print(format_table(["what", "networks", "seconds", "in forwards", "vs edit effect"], rows))


if __name__ == "__main__":
    main()
