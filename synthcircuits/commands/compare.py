"""`synthcircuits compare A B`: two models (specs or weight files) on the same units and stimuli."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from ..layout.address import UnitAddress
from ..outputs import atomic_target, make_folders
from ..probe.compare import UnitComparison, compare_models
from ..probe.geometry_sweep import GEOMETRIES, robustness_json, sweep_geometries
from ..probe.sweeps import BoundarySweep, CueSweep, HueSweep
from ..probe.tuning import ProbeUnit, RadialSweep
from ..opened import SPEC_SUFFIXES
from .common import open_model
from ..tables import format_table
from ..viz import plot_tuning
from ..jsontext import strict_json


def default_units(path: Path) -> list[UnitAddress]:
    """Without --units: the units a spec pins (its designed units live there)."""
    if Path(path).suffix not in SPEC_SUFFIXES:
        raise UserError("--units is needed when A is a weights file", hint="e.g. --units mixed3b:379,mixed3b:385")
    from ..language import load_spec

    spec = load_spec(path)
    return [u for f in spec.families if not f.keep for u in (f.units or ()) if u.layer not in ("conv2d0", "conv2d1")]


def comparison_table(results: list[UnitComparison]) -> str:
    rows = [[r.unit, r.correlation, r.best_match, r.best_correlation, r.curve_a.preferred(), r.curve_b.preferred()] for r in results]
    return format_table(["unit (A)", "r with same unit in B", "best match in B", "its r", "preferred A", "preferred B"], rows)


def geometry_rows(source_a, source_b, results: list[UnitComparison]) -> list[tuple[dict, dict]]:
    """A's units and their best matches in B under the robustness sweep's geometries, each against
    its own standard-sweep preference; printed side by side."""
    probes_a = [ProbeUnit(r.unit, *_layer_channel(source_a, r.unit)) for r in results]
    probes_b = [ProbeUnit(r.best_match, *_layer_channel(source_b, r.best_match)) for r in results]
    a, b = sweep_geometries(source_a.model, probes_a), sweep_geometries(source_b.model, probes_b)
    print(f"\npreferred orientation under {len(GEOMETRIES)} stimulus geometries, against each unit's own standard sweep:\n")
    print(format_table(["unit (A)", "worst error", "spread", "best match in B", "worst error", "spread"],
                       [[x.unit, x.worst, x.spread, y.unit, y.worst, y.spread] for x, y in zip(a, b)]))
    return list(zip(robustness_json(a), robustness_json(b)))


def _layer_channel(source, name: str) -> tuple[str, int]:
    unit = source.parse_unit(name)
    return unit.layer, source.channel_of(unit)


SWEEP_NAMES = ("radial", "boundary", "hue", "cue")


def comparison_sweep(name: str, radius: float, step: float):
    """The stimuli both models see: arcs (curves), high-low boundaries, hue pairs or figure/ground
    boundaries with every cue (edge, frequency, colour), swept over 360 degrees."""
    if name == "boundary":
        return BoundarySweep(step=step)
    if name == "hue":
        return HueSweep(step=step)
    if name == "cue":
        return CueSweep(step=step)
    return RadialSweep(radius=radius, step=step)


def run_compare(a: Path, b: Path, units: str | None, radius: float, step: float, rotate_b: float, device: str, output: Path,
                layer_b: str | None = None, architecture_b: str | None = None, geometry: bool = False, sweep_name: str = "radial") -> int:
    sweep = comparison_sweep(sweep_name, radius, step)
    if geometry and sweep_name != "radial":
        raise UserError("--geometry varies arcs; it goes with the radial sweep", hint="drop --geometry, or --sweep")
    source_a, source_b = open_model(a, device), open_model(b, device, architecture_b)
    addresses = source_a.parse_units(units) if units else default_units(a)
    if layer_b is not None and not source_b.architecture.has_layer(layer_b):
        raise UserError(f"{b} ({source_b.architecture.name}) has no layer {layer_b!r}", hint=f"`synthcircuits layers --arch {source_b.architecture.name}` lists them")
    results = compare_models(source_a, source_b, addresses, sweep, rotate_b, layer_b)
    label_b = f"B{f' rotated {rotate_b:g} deg' if rotate_b else ''}"
    print(f"A: {source_a.label}\nB: {source_b.label}{f' (stimuli rotated by {rotate_b:g} deg)' if rotate_b else ''}")
    if isinstance(sweep, RadialSweep):
        print(f"radial tuning: radius {sweep.radius:g} px, width {sweep.width:g} px, span {sweep.span:g} deg, step {sweep.step:g} deg\n")
    else:
        print(f"{sweep_name} sweep: {sweep}\n")
    print(comparison_table(results))
    robust = geometry_rows(source_a, source_b, results) if geometry else []
    make_folders(output)
    with atomic_target(output / "compare.json") as tmp:
        tmp.write_text(strict_json({"a": source_a.label, "b": source_b.label, "rotate_b": rotate_b, "sweep": {"kind": sweep_name, **{k: (None if v == float("inf") else v) for k, v in sweep.__dict__.items()}},
                                   "units": [r.as_json() for r in results],
                                   "geometry": [{"a": ra, "b": rb} for ra, rb in robust]}, indent=1))
    panels = [(r.unit, [("A", r.curve_a), (f"{label_b} same unit", r.curve_b), (f"{label_b} best: {r.best_match}", r.best_curve)]) for r in results]
    plot_tuning(panels, output / "compare.png")
    print(f"\nsaved {output / 'compare.json'} and {output / 'compare.png'}")
    return 0
