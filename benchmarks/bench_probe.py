"""Stimulus rendering speed, and a 1,000-stimulus battery through the ten mixed3b curve units
of the compiled curve circuit (InceptionV1 layout): full forward vs truncated capture vs
unit-level probing, on the same numbers.

Run: .venv/bin/python benchmarks/bench_probe.py [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.compile import compile_spec  # noqa: E402
from synthcircuits.models import capture  # noqa: E402
from synthcircuits.layout.geometry import INCEPTIONV1_GEOMETRY  # noqa: E402
from synthcircuits.probe.unit_forward import unit_activations  # noqa: E402
from synthcircuits.language import load_spec  # noqa: E402
from synthcircuits.stimuli import arcs, lines  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SPEC = Path(__file__).parent.parent / "specs" / "curve_circuit.yaml"
BATTERY, BATCH = 1000, 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    orientations = torch.arange(BATTERY, dtype=torch.float32) * 360 / BATTERY

    render_rows = []
    for name, render in (("arcs", lambda: arcs(orientations, 32.0)), ("lines", lambda: lines(orientations, length=67.0))):
        t = median_seconds(render, repeats=3)
        render_rows.append([name, BATTERY, t * 1000, BATTERY / t])
    print("rendering 1,000 stimuli at 224 x 224")
    print(format_table(["stimulus", "count", "median ms", "stimuli / s"], render_rows))

    build = compile_spec(load_spec(SPEC))
    model = build.model().to(args.device)
    channels = [u.channel for u in build.units if u.family == "curve"]
    p = INCEPTIONV1_GEOMETRY.centre_position("mixed3b", 224)
    battery = arcs(orientations, 32.0)

    def over_batches(fn):
        return torch.cat([fn(battery[i : i + BATCH].to(args.device)) for i in range(0, BATTERY, BATCH)])

    ways = {
        "full forward": lambda x: capture(model, x, ["mixed3b", "softmax2"])["mixed3b"][:, channels, p, p],
        "truncated at mixed3b": lambda x: capture(model, x, ["mixed3b"])["mixed3b"][:, channels, p, p],
        "unit-level": lambda x: unit_activations(model, x, "mixed3b", channels, p),
    }
    results, rows = {}, []
    for name, fn in ways.items():
        start = time.perf_counter()
        results[name] = over_batches(fn)
        elapsed = time.perf_counter() - start
        rows.append([name, elapsed, BATTERY / elapsed])
    full = rows[0][1]
    reference = results["full forward"]
    for row, name in zip(rows, ways):
        row += [full / row[1], float((results[name] - reference).abs().max())]
    print(f"\n{BATTERY} arcs through the ten 3b curve units ({args.device}, {torch.get_num_threads()} threads, batches of {BATCH})")
    print(format_table(["method", "seconds", "stimuli / s", "speed-up vs full", "max |diff| vs full"], rows))


if __name__ == "__main__":
    main()
