"""The main job on built-in defaults (nothing downloaded): build the clean-room curve circuit,
verify it against the articles' claims, and compare it with itself rotated as a sanity row."""

from __future__ import annotations

from pathlib import Path

from .compare import comparison_table
from ..compile import compile_spec
from ..layout.address import parse_units
from ..outputs import atomic_target
from ..probe.checks import Measurements, checks_summary, run_checks, tuning_table
from ..probe.compare import compare_models
from ..probe.tuning import RadialSweep
from .common import resolve_device
from ..opened import OpenedModel
from ..language import load_spec
from ..cleanroom.checked import designed_units
from ..viz import plot_tuning

def shipped_specs() -> Path:
    """The shipped specs: `specs/` beside the package in a checkout, else the installed copy."""
    checkout = Path(__file__).resolve().parents[2] / "specs"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parents[1] / "specs"  # installed: synthcircuits/specs


SHIPPED_SPECS = shipped_specs()
DEFAULT_SPEC = SHIPPED_SPECS / "curve_circuit.yaml"
SANITY_ROTATION = 45.0


def run_demo(output_dir: Path, device: str = "cpu", spec_path: Path = DEFAULT_SPEC) -> int:
    spec = load_spec(spec_path)
    build = compile_spec(spec, "inceptionv1")
    print(build.summary())
    weights = build.save(output_dir / f"{spec.name}.safetensors")
    with atomic_target(output_dir / "units.json") as tmp:
        tmp.write_text(build.units_json())

    model = build.model().to(resolve_device(device))
    units = designed_units(build)
    checked = {(r.family, r.index) for c in spec.checks for r in c.units}
    sweep = RadialSweep(**spec.checks[0].stimulus)
    print(f"\n== verify: radial tuning, arcs of radius {sweep.radius:g} px centred on each receptive field\n")
    measurements = Measurements(model)
    print(tuning_table([u for u in units if u.ref in checked], measurements, sweep))
    rows = run_checks(measurements, spec.checks, units)
    print()
    print(checks_summary(rows))

    curves = parse_units(",".join(str(u.address) for u in build.units if u.family == "curve"), build.graph.architecture)
    source = OpenedModel(spec.name, model)
    results = compare_models(source, source, curves, sweep, rotate_b=SANITY_ROTATION)
    print(f"\n== compare with itself, B's stimuli rotated by {SANITY_ROTATION:g} deg (sanity: each best match "
          f"should be the unit designed {SANITY_ROTATION:g} deg further round)\n")
    print(comparison_table(results))
    plot = plot_tuning([(r.unit, [("A", r.curve_a), (f"B rotated: best {r.best_match}", r.best_curve)]) for r in results],
                       output_dir / "curves_rotated.png")
    print(f"\nsaved {weights}, {output_dir / 'units.json'} and {plot}")
    return 0 if all(r.passed for r in rows) else 1
