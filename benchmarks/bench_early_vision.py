"""The early-vision families' cost, each against a baseline in the same run:
- compile time of each early-vision spec against the curve circuit's;
- `find` time per family for a whole layer (every unit of mixed3a / inception_3a) against
  `find --family curves` on the same layer: high-low, black-and-white and colour contrast read
  the census battery, boundaries their own cue sweeps.

Run: .venv/bin/python benchmarks/bench_early_vision.py [--weights FILE] [--device cuda]
(default: a random InceptionV1, the same architecture and cost as the trained one)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from subject import benchmark_subject  # noqa: E402
from timing import median_seconds  # noqa: E402

from synthcircuits.census.layer import census_layer  # noqa: E402
from synthcircuits.compile import compile_spec  # noqa: E402
from synthcircuits.language import load_spec  # noqa: E402
from synthcircuits.probe.classify import classify_layer  # noqa: E402
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"
EARLY = ("high_low_frequency.yaml", "black_and_white.yaml", "colour_contrast.yaml", "boundaries.yaml")


def main() -> None:
    args, source = benchmark_subject()

    curves = load_spec(SPECS / "curve_circuit.yaml")
    baseline = median_seconds(lambda: compile_spec(curves), repeats=args.repeats)
    rows = [["compile curve_circuit.yaml (baseline)", f"{baseline:.3f}", "1.00x"]]
    for name in EARLY:
        spec = load_spec(SPECS / name)
        t = median_seconds(lambda: compile_spec(spec), repeats=args.repeats)
        rows.append([f"compile {name} ({spec.unit_count} units)", f"{t:.3f}", f"{t / baseline:.2f}x"])

    arch = source.architecture
    layer = arch.layer("mixed3a").name if arch.has_layer("mixed3a") else arch.equivalent_of("mixed3a")
    channels = list(range(source.layer_width(layer)))
    names = [source.name_of(layer, c) for c in channels]
    units = [ProbeUnit(n, layer, c) for n, c in zip(names, channels)]
    none = [None] * len(units)
    sweep = RadialSweep(step=10.0)
    curves_find = median_seconds(lambda: classify_layer(source.model, units, none, "curves", sweep), repeats=args.repeats)
    census = median_seconds(lambda: census_layer(source.model, source.geometry(), layer, channels, names, none), repeats=args.repeats)
    boundary = median_seconds(lambda: classify_layer(source.model, units, none, "boundaries", sweep), repeats=args.repeats)
    rows += [[f"find --family curves, {layer} ({len(units)} units; baseline)", f"{curves_find:.2f}", "1.00x"],
             [f"find --family high-low | black-and-white | colour-contrast, {layer}", f"{census:.2f}", f"{census / curves_find:.2f}x"],
             [f"find --family boundary, {layer}", f"{boundary:.2f}", f"{boundary / curves_find:.2f}x"]]
    print(f"{source.label}: median of {args.repeats}")
    print(format_table(["what", "seconds", "against its baseline"], rows))


if __name__ == "__main__":
    main()
