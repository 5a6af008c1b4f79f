"""Decompile: time for ten units against a whole branch (inception_3b's 5x5 branch of the trained
BVLC GoogLeNet) and the whole layer (every unit outside the pool branch; those that answer no
arc are left out), split into its stages: measuring the units (classification sweeps), fitting
the rules, and the round trip (compile the draft, sweep both). Then each `--family` on its own
compiled spec against the ten compiled curves.
Falls back to the compiled curve circuit's mixed3b 5x5 branch where the BVLC folder is absent.

    .venv/bin/python benchmarks/bench_decompile.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.compile import compile_spec  # noqa: E402
from synthcircuits.decompile import decompile  # noqa: E402
from synthcircuits.decompile.draft import draft_spec  # noqa: E402
from synthcircuits.decompile.kinds import KINDS  # noqa: E402
from synthcircuits.decompile.roundtrip import round_trip  # noqa: E402
from synthcircuits.layout.address import unit_at  # noqa: E402
from synthcircuits.models import load_model  # noqa: E402
from synthcircuits.probe.classify import classify_layer  # noqa: E402
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep  # noqa: E402
from synthcircuits.language import load_spec, parse_spec  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402

ROOT = Path(__file__).parent.parent
BVLC = ROOT.parent / "shared" / "data" / "bvlc_googlenet" / "weights"


def weights(folder: Path) -> tuple[Path, str]:
    if BVLC.is_dir():
        out = folder / "bvlc.safetensors"
        subprocess.run([sys.executable, "-m", "synthcircuits.cli", "weights", "convert", str(BVLC), "--from", "caffe-bin", "-o", str(out)],
                       check=True, capture_output=True)
        return out, "inception_3b"
    out = folder / "curves.safetensors"
    compile_spec(load_spec(ROOT / "specs" / "curve_circuit.yaml")).save(out)
    return out, "mixed3b"


def timed(model, path: Path, targets, kind=KINDS["curves"]) -> list:
    start = time.perf_counter()
    result = decompile(model, targets, kind=kind)
    fitted = time.perf_counter()
    spec = parse_spec(draft_spec(result, model, path, path.name), "draft.yaml")
    trip = round_trip(result, model, spec)
    done = time.perf_counter()
    tuning = sum(u.tuning_r for u in trip.units) / len(trip.units)
    return [len(result.targets.units), fitted - start, done - fitted, done - start, tuning]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, layer = weights(Path(tmp))
        model = load_model(path)
        arch = model.architecture
        branch = arch.layer(layer).branch("5x5")
        units = [ProbeUnit(f"{layer}:{c}", layer, c) for c in range(arch.layer(layer).channels)]
        rows = classify_layer(model, units, [None] * len(units), "curves", RadialSweep(step=10.0))
        ten = [unit_at(layer, r.channel, arch) for r in rows if r.member][:10]
        whole = [unit_at(layer, c, arch) for c in range(branch.start, branch.stop)]
        everything = [u for u in (unit_at(layer, c, arch) for c in range(arch.layer(layer).channels)) if u.branch != "pool_reduce"]
        small, large, all_units = timed(model, path, ten), timed(model, path, whole), timed(model, path, everything)
    print(f"decompile on {path.name} ({layer}, from its input layer; 2-core CPU)")
    print(format_table(["units", "decompiled", "measure + fit s", "round trip s", "total s", "mean tuning r", "total vs ten units"],
                       [["ten curve detectors", *small, 1.0],
                        [f"the whole 5x5 branch ({branch.stop - branch.start})", *large, large[3] / small[3]],
                        [f"the whole layer outside the pool branch ({len(everything)})", *all_units, all_units[3] / small[3]]]))
    print()
    families()


FAMILY_SPECS = (("curves", "curve_circuit.yaml", "curve"), ("high-low", "high_low_frequency.yaml", "high_low_frequency"),
                ("colour-contrast", "colour_contrast.yaml", "colour_contrast"))


def families() -> None:
    """Each family's decompile on its own compiled spec, against the ten compiled curves in the same run."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, spec_name, family in FAMILY_SPECS:
            built = compile_spec(load_spec(ROOT / "specs" / spec_name))
            path = Path(tmp) / f"{kind}.safetensors"
            built.save(path)
            model = load_model(path)
            targets = [u.address for u in built.units if u.family == family]
            rows.append([kind, *timed(model, path, targets, KINDS[kind])])
    base = rows[0][4]
    print("decompile per family, each on its compiled spec (2-core CPU)")
    print(format_table(["--family", "units", "measure + fit s", "round trip s", "total s", "mean tuning r", "total vs curves"],
                       [[*row, row[4] / base] for row in rows]))


if __name__ == "__main__":
    main()
