"""Feature visualisation speed and quality, each against a baseline measured in the same run.

1. Throughput in image-steps/s at 128 px on mixed3b units: the single-unit loop (one unit
   after another, batch 1) against batches of 1, 8 and 32 units.
2. Receptive-field canvases per layer: image-steps/s of a batch of 8 units on a full 128 px
   canvas against the unit's receptive field run through its cone.
3. Objective reached against steps (the report's defaults: 96 px, receptive canvases),
   relative to 128 steps: why the report stops at 128.
4. Quality: each sampled unit's activation on its report picture over its activation on the
   single-unit full-canvas picture (the first build's report), and the same ratio between two
   seeds of the single-unit loop (how much one seed's picture varies anyway).
5. The curve-circuit report, cold and warm, and two reports at once (8 mixed3a units): the
   slowdown with thread tuning (default) and with a fixed --threads (the first build's way).

Run with nothing else busy: .venv/bin/python benchmarks/bench_featurevis.py [--device cuda] [--skip-report]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.commands.common import open_model  # noqa: E402
from synthcircuits.compile import compile_spec  # noqa: E402
from synthcircuits.models import build_model  # noqa: E402
from synthcircuits.language import load_spec  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402
from synthcircuits.viz.featurevis import Request, Settings, score, visualise_many  # noqa: E402
from synthcircuits.viz.objectives import Neuron  # noqa: E402

ROOT = Path(__file__).parent.parent
SPEC = ROOT / "specs" / "curve_circuit.yaml"
CLI = [str(Path(sys.executable).with_name("synthcircuits"))]  # the installed command, as a user runs it


def image_steps_per_second(model, units, settings: Settings, one_at_a_time: bool = False) -> float:
    visualise_many(model, [Request(units[0])], Settings(steps=2, size=settings.size, canvas=settings.canvas), progress=False)
    start = time.perf_counter()
    if one_at_a_time:
        for unit in units:
            visualise_many(model, [Request(unit)], settings, progress=False)
    else:
        visualise_many(model, [Request(u) for u in units], settings, progress=False)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return len(units) * settings.steps / (time.perf_counter() - start)


def throughput(model, steps: int) -> None:
    units = [Neuron("mixed3b", c) for c in range(32)]
    settings = Settings(steps=steps, size=128)
    baseline = image_steps_per_second(model, units[:8], settings, one_at_a_time=True)
    rows = [["single-unit loop", 1, baseline, 1.0]]
    for batch in (1, 8, 32):
        rate = image_steps_per_second(model, units[:batch], settings)
        rows.append(["batched", batch, rate, rate / baseline])
    receptive = image_steps_per_second(model, units, Settings(steps=steps, size=128, canvas="receptive"))
    rows.append(["batched, receptive canvas", 32, receptive, receptive / baseline])
    print(f"\n1. mixed3b feature visualisation at 128 px, {steps} steps, {_where(model)}")
    print(format_table(["run", "batch", "image-steps/s", "vs single-unit loop"], rows))


def canvases(model, steps: int) -> None:
    rows = []
    geometry = model.geometry()
    for layer in ("conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a"):
        units = [Neuron(layer, c) for c in range(8)]
        full = image_steps_per_second(model, units, Settings(steps=steps, size=128))
        receptive = image_steps_per_second(model, units, Settings(steps=steps, size=128, canvas="receptive"))
        rows.append([layer, geometry.span(layer).size, full, receptive, receptive / full])
    print(f"\n2. receptive-field canvases, batch 8, {steps} steps, {_where(model)}")
    print(format_table(["layer", "receptive field px", "full 128 px: image-steps/s", "receptive: image-steps/s", "speed-up"], rows))


def sampled_units(per_layer: int = 4):
    build = compile_spec(load_spec(SPEC), "inceptionv1")
    by_layer: dict[str, list] = {}
    for u in build.units:
        if u.layer != "conv2d0":
            by_layer.setdefault(u.layer, []).append(Neuron(u.layer, u.address.channel))
    return {layer: units[:: max(1, len(units) // per_layer)][:per_layer] for layer, units in by_layer.items()}


def convergence(model) -> None:
    marks = (16, 32, 64, 96, 128, 192)
    rows = []
    for layer, units in sampled_units().items():
        pictures = visualise_many(model, [Request(u) for u in units], Settings(steps=256, size=96, thresholds=marks, canvas="receptive"),
                                  progress=False)
        values = torch.tensor([[float(score(model, p.request.objective, p.snapshots[t], p.canvas)[0]) for t in marks + (256,)]
                               for p in pictures])
        relative = values / values[:, marks.index(128)][:, None]
        rows.append([layer, len(units)] + [float(v) for v in relative.mean(0)])
    print("\n3. objective reached vs steps on the curve circuit (96 px, receptive canvases), relative to 128 steps")
    print(format_table(["layer", "units"] + [str(t) for t in marks + (256,)], rows))


def quality(model) -> None:
    report = Settings(steps=128, size=96, canvas="receptive")
    first_build = Settings(steps=128, size=96)
    rows = []
    for layer, units in sampled_units().items():
        new = visualise_many(model, [Request(u) for u in units], report, progress=False)
        old = [visualise_many(model, [Request(u, seed=seed)], first_build, progress=False)[0] for seed in (0, 1) for u in units]
        ratio = torch.tensor([float(score(model, u, n.final, n.canvas)[0] / score(model, u, o.final, o.canvas)[0])
                              for u, n, o in zip(units, new, old)])
        seeds = torch.tensor([float(score(model, u, b.final, b.canvas)[0] / score(model, u, a.final, a.canvas)[0])
                              for u, a, b in zip(units, old[: len(units)], old[len(units):])])
        rows.append([layer, len(units), float(ratio.mean()), float(ratio.min()), float(seeds.mean()), float(seeds.min())])
    print("\n4. unit activation on its picture (128 steps, 96 px): report (batched, receptive) over the single-unit full-canvas loop")
    print(format_table(["layer", "units", "report/first: mean", "min", "seed 1/seed 0 of first: mean", "min"], rows))


def run_report(output: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(CLI + ["report", str(SPEC), "-o", str(output), *extra], check=True, capture_output=True)
    return time.perf_counter() - start


def reports() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        cold = run_report(out)
        warm = run_report(out)
        units = ",".join(f"mixed3a:{u.channel}" for u in sampled_units(8)["mixed3a"])
        rows = [["curve circuit report, 122 units, cold", cold, ""], ["same, warm (every picture cached)", warm, ""]]
        for label, extra in (("tuned threads (default)", ()), ("fixed --threads (first build)", ("--threads", str(torch.get_num_threads())))):
            alone = run_report(Path(tmp) / "alone", "--units", units, *extra)
            start = time.perf_counter()
            pair = [subprocess.Popen(CLI + ["report", str(SPEC), "-o", str(Path(tmp) / f"pair{i}"), "--units", units, *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
            for p in pair:
                p.wait()
            together = time.perf_counter() - start
            rows.append([f"8 mixed3a units alone, {label}", alone, ""])
            rows.append([f"two at once, {label}", together, f"{together / alone:.2f}x"])
            for name in ("alone", "pair0", "pair1"):
                shutil.rmtree(Path(tmp) / name, ignore_errors=True)
    print(f"\n5. reports on this machine ({torch.get_num_threads()} threads)")
    print(format_table(["run", "wall s", "slowdown"], rows))


def _where(model) -> str:
    device = next(model.parameters()).device
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=8, help="steps per throughput measurement")
    parser.add_argument("--skip-report", action="store_true", help="skip sections 3-5 (the curve circuit and the report runs)")
    args = parser.parse_args()
    model = build_model("inceptionv1", seed=0).to(args.device)
    throughput(model, args.steps)
    canvases(model, args.steps)
    if not args.skip_report:
        curves = open_model(SPEC, args.device).model
        convergence(curves)
        quality(curves)
        reports()


if __name__ == "__main__":
    main()
