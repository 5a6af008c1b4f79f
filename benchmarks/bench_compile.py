"""Compile time: the largest shipped spec, and synthetic specs of ~2,000 units.

Run: .venv/bin/python benchmarks/bench_compile.py
Each stage (graph, placement + lowering, module) is timed separately; the ratio column
compares each build's total with the largest shipped spec's inceptionv1 build.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.compile import build_graph, compile_spec  # noqa: E402
from synthcircuits.language import load_spec, parse_spec  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SPECS = Path(__file__).parent.parent / "specs"


def synthetic_spec(widths: dict[str, int], branch_of: dict[str, str], per_family: int = 32) -> str:
    """Rule-built families of `per_family` orientations, filling each layer's width; every
    family reads the first family of the layer before (so orientation steps always match)."""
    families = [{"name": "conv2d0_0", "layer": "conv2d0", "orientations": per_family, "phases": [0, 180],
                 "kernel": {"gabor": {"size": 7, "wavelength": 4, "sigma": 1.4}}}]
    previous = "conv2d0_0"
    for layer, width in widths.items():
        for k in range(width // per_family):
            family = {"name": f"{layer}_{k}", "layer": layer, "orientations": per_family,
                      "inputs": [{"from": previous, "along_arc": {"radius": 1 + k % 3}, "tuning": {"excite": 1, "inhibit": 0.5, "width_deg": 20}}]}
            if layer in branch_of:
                family["branch"] = branch_of[layer]
            families.append(family)
        previous = f"{layer}_0"
    return yaml.safe_dump({"synthcircuits": 1, "name": f"synthetic-{64 + sum(widths.values())}", "families": families})


def time_build(spec, target: str) -> list:
    graph_s = median_seconds(lambda: build_graph(spec), repeats=3)
    total_s = median_seconds(lambda: compile_spec(spec, target).model(), repeats=3)
    build = compile_spec(spec, target)
    return [spec.name, target, len(build.units), build.graph.edge_count(), graph_s * 1000, total_s * 1000]


def main() -> None:
    shipped = max((load_spec(p) for p in SPECS.glob("*.yaml")), key=lambda s: s.unit_count)
    # Orientation counts that divide each other, so every rule is a legal rotation family.
    compact_2000 = parse_spec(synthetic_spec({"conv2d1": 256, "conv2d2": 512, "mixed3a": 512, "mixed3b": 640}, {"mixed3a": "3x3", "mixed3b": "5x5"}))
    layout_filling = parse_spec(synthetic_spec({"conv2d1": 64, "conv2d2": 192, "mixed3a": 128, "mixed3b": 96}, {"mixed3a": "3x3", "mixed3b": "5x5"}))
    rows = [time_build(shipped, "inceptionv1"), time_build(shipped, "compact"),
            time_build(layout_filling, "inceptionv1"), time_build(compact_2000, "compact")]
    baseline = rows[0][-1]
    for row in rows:
        row.append(row[-1] / baseline)
    print("compile time (median of 3)")
    print(format_table(["spec", "target", "units", "connections", "graph ms", "total ms", "total / shipped"], rows))


if __name__ == "__main__":
    main()
