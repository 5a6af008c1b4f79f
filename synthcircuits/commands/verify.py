"""`synthcircuits verify`: build a spec (or load weights), run its checks, print the tables."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path


from ..compile import Build, compile_spec
from ..errors import UserError
from ..outputs import atomic_target
from ..models.zoo import load_model
from ..probe.geometry_sweep import GEOMETRIES, robustness_json, robustness_table
from ..probe.checks import CheckRow, DesignedUnit, Measurements, checks_table, run_checks, tuning_table
from ..probe.tuning import ProbeUnit, RadialSweep
from ..spec import Spec, load_spec


def designed_units(build: Build, on_trained_layout: bool = False) -> list[DesignedUnit]:
    """The spec's units as the model holds them: in the build itself, or (for weights in the
    InceptionV1 layout, e.g. trained ones) at the addresses the spec gives them."""
    units = []
    for u in build.units:
        name = str(u.address) if u.address else f"{u.family}[{u.index}]"
        channel = u.address.channel if on_trained_layout else u.channel
        units.append(DesignedUnit((u.family, u.index), name, u.family, u.orientation, ProbeUnit(name, u.layer, channel)))
    return units


def verify_spec(spec: Spec, weights: Path | None = None, target: str = "inceptionv1", device: str = "cpu") -> tuple[list[CheckRow], Build, Measurements, list[DesignedUnit]]:
    if not spec.checks:
        raise UserError(f"{spec.file}: the spec has no checks: section", hint="add checks (see specs/curve_circuit.yaml)")
    if weights is None:
        build = compile_spec(spec, target)
        model = build.model().to(device)
        units = designed_units(build)
    else:
        build = compile_spec(spec, "inceptionv1")
        model = load_model(weights, device=device)
        if model.architecture.name != spec.architecture:
            raise UserError(f"{weights}: holds {model.architecture.name} weights; the spec's addresses are {spec.architecture} units",
                            hint="compare the circuit with these weights instead: synthcircuits compare SPEC WEIGHTS --layer-b LAYER")
        units = designed_units(build, on_trained_layout=True)
    measurements = Measurements(model, progress=True)
    return run_checks(measurements, spec.checks, units), build, measurements, units


def run_verify(spec_path: Path, weights: Path | None, target: str, device: str, json_out: Path | None, geometry: bool = False) -> int:
    spec = load_spec(spec_path)
    rows, build, measurements, units = verify_spec(spec, weights, target, device)
    checked = {(r.family, r.index) for c in spec.checks for r in c.units}
    shown = [u for u in units if u.ref in checked]
    source = weights or f"{spec_path} built for {target}"
    print(f"{spec.name}: checks on {source}\n")
    print(tuning_table(shown, measurements, RadialSweep(**spec.checks[0].stimulus)))
    print()
    print(checks_table(rows))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} expectations hold" + (f"; {len(failed)} FAILED" if failed else ""))
    robust = measurements.geometry(shown) if geometry else []
    if robust:
        print(f"\npreferred orientation under {len(GEOMETRIES)} stimulus geometries (radius 15-60 px, span 60-180 deg, stroke 1.5-5 px, "
              "up to 6 px off centre, both polarities):\n")
        print(robustness_table(robust))
    if json_out:
        with atomic_target(json_out) as tmp:
            tmp.write_text(json.dumps({"spec": spec.name, "spec_hash": spec.content_hash, "source": str(source),
                                       "rows": [asdict(r) for r in rows], "geometry": robustness_json(robust)}, indent=1))
    return 1 if failed else 0
