"""Causal tools: batched patching against one forward per intervention; integrated
gradients' time and peak memory against the step count (chunked, so memory should not grow);
path patching against a plain intervention and against the weight edit it equals; circuit
extraction's time on the compiled curve circuit.

Run with nothing else busy: .venv/bin/python benchmarks/bench_causal.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.causal import Intervention, run_with_interventions  # noqa: E402
from synthcircuits.models import build_model  # noqa: E402
from synthcircuits.models.capture import capture  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

INTERVENTIONS = 16
IMAGES = 4


def patching(model) -> None:
    images = torch.rand(IMAGES, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    clean = capture(model, images, ["mixed3a"])["mixed3a"]
    run_with_interventions(model, images, [Intervention("mixed3a", "zero", channels=(0,))], ["softmax2"])  # warm-up
    start = time.perf_counter()
    one_by_one = [run_with_interventions(model, images, [Intervention("mixed3a", "zero", channels=(k,))], ["softmax2"])["softmax2"]
                  for k in range(INTERVENTIONS)]
    single = time.perf_counter() - start
    start = time.perf_counter()
    sources = clean.repeat(INTERVENTIONS, 1, 1, 1)
    for k in range(INTERVENTIONS):
        sources[k * IMAGES : (k + 1) * IMAGES, k] = 0.0
    batched = run_with_interventions(model, images.repeat(INTERVENTIONS, 1, 1, 1), [Intervention.patch("mixed3a", sources)],
                                     ["softmax2"])["softmax2"]
    together = time.perf_counter() - start
    same = torch.allclose(torch.cat(one_by_one), batched, atol=1e-5)
    print(f"1. {INTERVENTIONS} single-channel ablations of mixed3a on {IMAGES} images at 224 px, to softmax2 "
          f"(CPU, {torch.get_num_threads()} threads; same results: {same})")
    print(format_table(["run", "seconds", "interventions/s", "speed-up"],
                       [["one forward per intervention", single, INTERVENTIONS / single, 1.0],
                        ["one batched forward (patch)", together, INTERVENTIONS / together, single / together]]))


PROBE = """
import resource, sys, time, torch
from synthcircuits.causal import Target, integrated_gradients
from synthcircuits.models import build_model
model = build_model("inceptionv1", seed=0)
images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
start = time.perf_counter()
result = integrated_gradients(model, images, Target("mixed3b", 379), "mixed3a", steps=int(sys.argv[1]), chunk=8)
elapsed = time.perf_counter() - start
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
print(elapsed, peak, float(result.completeness_gap.max()))
"""


def integrated_gradient_cost() -> None:
    rows = []
    for steps in (8, 32, 128):
        out = subprocess.run([sys.executable, "-c", PROBE, str(steps)], capture_output=True, text=True, check=True).stdout.split()
        rows.append([steps, float(out[0]), float(out[1]), float(out[2])])
    base_time, base_memory = rows[0][1], rows[0][2]
    print("\n2. integrated gradients, mixed3b:379 to mixed3a, 2 images at 224 px, chunk 8 (peak RSS of a fresh process)")
    print(format_table(["steps", "seconds", "peak MiB", "completeness gap", "time vs 8 steps", "memory vs 8 steps"],
                       [r + [r[1] / base_time, r[2] / base_memory] for r in rows]))


def path_patching(model) -> None:
    """One edge changed for one target (two truncated forwards) against zeroing the source for
    everyone (one forward) and against building the edited weights (ablate_connection) and running them."""
    from synthcircuits.causal import Edge, path_patch
    from synthcircuits.edit import apply_edits, edited_model, parse_edit
    from synthcircuits.layout.address import parse_unit

    arch = model.architecture
    images = torch.rand(IMAGES, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    edge = Edge(parse_unit("3a:8", arch), parse_unit("3b:10", arch), Intervention("-", "zero"))
    edit = parse_edit("synthcircuits_edit: 1\nname: e\nedits:\n  - ablate_connection: {from: 3a:8, to: 3b:10}\n")

    def timed(function, repeats=5):
        function()
        start = time.perf_counter()
        for _ in range(repeats):
            out = function()
        return (time.perf_counter() - start) / repeats, out

    plain, _ = timed(lambda: run_with_interventions(model, images, [Intervention("mixed3a", "zero", channels=(8,))], ["softmax2"]))
    path, by_path = timed(lambda: run_with_interventions(model, images, path_patch(model, images, [edge]), ["softmax2"]))
    weights, by_edit = timed(lambda: capture(edited_model(apply_edits(model.state_dict(), edit)), images, ["softmax2"]), repeats=2)
    same = float((by_path["softmax2"] - by_edit["softmax2"]).abs().max())
    print(f"\n3. path patching 3a:8 -> 3b:10 on {IMAGES} images at 224 px, to softmax2 (largest difference from the weight edit: {same:.1e})")
    print(format_table(["run", "seconds", "vs plain intervention"],
                       [["zero 3a:8 for everyone (one forward)", plain, 1.0],
                        ["path patch (counterfactual to mixed3b, then the run)", path, path / plain],
                        ["ablate_connection: edit the weights, build, run", weights, weights / plain]]))


def extraction() -> None:
    from synthcircuits.causal.extraction import extract_circuit, preferred_arcs
    from synthcircuits.compile import compile_spec
    from synthcircuits.layout.address import parse_unit
    from synthcircuits.language import load_spec

    model = compile_spec(load_spec(Path(__file__).parent.parent / "specs" / "curve_circuit.yaml"), "inceptionv1").model().eval()
    rows = []
    for name in ("3b:379", "3b:342", "3b:388"):
        unit = parse_unit(name, model.architecture)
        start = time.perf_counter()
        arcs, _, _ = preferred_arcs(model, unit, 8)
        found = time.perf_counter()
        result = extract_circuit(model, arcs, unit, 0.9)
        done = time.perf_counter()
        rows.append([name, found - start, done - found, len(result.tried), len(result.kept), result.fidelity])
    print("\n4. circuit extraction on the compiled curve circuit (8 preferred arcs, fraction 0.9)")
    print(format_table(["unit", "arc sweep s", "extraction s", "forwards in the search", "edges kept", "activation kept"], rows))


def main() -> None:
    model = build_model("inceptionv1", seed=0)
    patching(model)
    integrated_gradient_cost()
    path_patching(model)
    extraction()


if __name__ == "__main__":
    main()
