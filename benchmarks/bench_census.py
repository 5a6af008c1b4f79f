"""Census time per layer against `find` for one family (curves: 72 stimuli), in the same run, on
the same model: the census runs its whole battery (15 kinds) once for every unit of the layer.
The issue's budget: a whole layer in at most find's time times the number of stimulus kinds.

Run: .venv/bin/python benchmarks/bench_census.py [--weights FILE] [--device cuda]
(default: a random InceptionV1, the same architecture and cost as the trained one; the README
quotes trained BVLC GoogLeNet, --weights bvlc_googlenet.safetensors)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from subject import benchmark_subject  # noqa: E402
from timing import median_seconds  # noqa: E402

from synthcircuits.census.battery import BATTERY, Scale  # noqa: E402
from synthcircuits.census.layer import census_layer  # noqa: E402
from synthcircuits.probe.classify import classify_layer  # noqa: E402
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402


def main() -> None:
    args, source = benchmark_subject()
    arch = source.architecture
    layers = [arch.layer(name).name for name in ("conv2d2", "mixed3a", "mixed3b") if arch.has_layer(name)] or \
             [arch.equivalent_of(name) for name in ("conv2d2", "mixed3a", "mixed3b")]
    kinds = len(BATTERY)
    rows = []
    for layer in layers:
        channels = list(range(source.layer_width(layer)))
        names = [f"{layer}:{c}" for c in channels]
        units = [ProbeUnit(n, layer, c) for n, c in zip(names, channels)]
        find = median_seconds(lambda: classify_layer(source.model, units, [None] * len(units), "curves", RadialSweep(step=10.0)),
                              repeats=args.repeats)
        census = median_seconds(lambda: census_layer(source.model, source.geometry(), layer, channels, names, [None] * len(channels)),
                                repeats=args.repeats)
        stimuli = sum(len(next(iter(k.grid(Scale(source.geometry().span(layer).size)).values()))) for k in BATTERY)
        rows.append([layer, len(channels), 72, f"{find:.2f}", stimuli, f"{census:.2f}", f"{census / find:.1f}x", f"{census / (find * kinds):.2f}"])
    print(f"{source.label}: census (15 stimulus kinds, every unit at once) against find --family curves, median of {args.repeats}")
    print(format_table(["layer", "units", "find stimuli", "find s", "census stimuli", "census s", "census / find",
                        f"census / (find x {kinds} kinds)"], rows))


if __name__ == "__main__":
    main()
