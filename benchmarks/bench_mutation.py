"""Mutation testing against the verify it repeats, in the same run on the same spec:
- `mutate` of specs/curve_circuit.yaml (its 50 mutants) against one `verify` of it (build and
  every check), both on the compact build `mutate` picks and on InceptionV1's layout;
- each timed cold: the stimuli both draw are rendered afresh (`remembered.forget`), as in a new
  process, so the mutants' sharing (stimuli drawn once, checks below a mutant's layer reused from
  the original) shows in the ratio.

Run: .venv/bin/python benchmarks/bench_mutation.py [--spec specs/curve_circuit.yaml] [--repeats 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.cleanroom import check_build, derive_mutants, mutation_test  # noqa: E402
from synthcircuits.language import load_spec  # noqa: E402
from synthcircuits.stimuli.remembered import forget  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

SPECS = Path(__file__).resolve().parent.parent / "specs"


def cold_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        forget()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", type=Path, default=SPECS / "curve_circuit.yaml")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    spec = load_spec(args.spec)
    count = len(derive_mutants(spec))
    rows = []
    for target in ("compact", "inceptionv1"):
        check_build(spec, target, progress=False)  # warm the allocator and the imports
        verify = cold_seconds(lambda: check_build(spec, target, progress=False), args.repeats)
        mutate = cold_seconds(lambda: mutation_test(spec, target, progress=False), args.repeats)
        rows.append([f"{spec.name}, {target} build", f"{verify:.2f}", f"{count}", f"{mutate:.1f}", f"{mutate / verify:.1f}x",
                     f"{mutate / count / verify:.2f}x"])
    print(f"median of {args.repeats}, {torch.get_num_threads()} threads")
    print(format_table(["spec", "verify s", "mutants", "mutate s", "mutate / verify", "per mutant / verify"], rows))


if __name__ == "__main__":
    main()
