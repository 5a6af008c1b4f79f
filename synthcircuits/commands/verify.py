"""`synthcircuits verify`: build a spec (or load weights), run its checks, print the tables."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..cleanroom.checked import check_build, check_weights
from ..compile import Build
from ..dataset.items import list_items, read_class_map
from ..dataset.shards import RunOptions
from ..faithfulness import measure_faithfulness, open_circuit
from ..faithfulness.measures import WORDS
from ..faithfulness.report import AGAINST
from ..errors import UserError
from ..outputs import atomic_target
from ..models.zoo import load_model
from ..probe.geometry_sweep import GEOMETRIES, robustness_json, robustness_table
from ..probe.checks import GROUP_EXPECTATIONS, UNIT_EXPECTATIONS, CheckRow, DesignedUnit, Measurements, checks_table, tuning_table
from ..probe.tuning import RadialSweep
from ..language import Spec, load_spec
from .common import open_model
from ..jsontext import strict_json


def verify_spec(spec: Spec, weights: Path | None = None, target: str = "inceptionv1", device: str = "cpu",
                base: Path | None = None) -> tuple[list[CheckRow], Build, Measurements, list[DesignedUnit]]:
    """The spec's checks on its build, or on `weights` at the spec's addresses: rows, build, measurements, units."""
    if weights is None:
        checked = check_build(spec, target, device, base)
    else:
        checked = check_weights(spec, load_model(weights, device=device), weights, base)
    return checked.rows, checked.build, checked.measurements, checked.units


def run_verify(spec_path: Path, weights: Path | None, target: str, device: str, json_out: Path | None, geometry: bool = False,
               base: Path | None = None) -> int:
    spec = load_spec(spec_path)
    if not spec.checks and not spec.faithfulness:
        raise UserError(f"{spec.file}: the spec has no checks: section", hint="add checks (see specs/curve_circuit.yaml)")
    trained = weights or base or spec.base
    if spec.faithfulness and trained is None:
        raise UserError(f"{spec.file}: a faithfulness check splices the circuit into the trained network, and none is given",
                        hint="pass --weights TRAINED (or set base: in the spec)")
    rows, shown, measurements = [], [], None
    radial = [c for c in spec.checks if c.sweep == "radial_tuning" and any(k in c.expect for k in (*UNIT_EXPECTATIONS, *GROUP_EXPECTATIONS))]
    if spec.checks:
        rows, build, measurements, units = verify_spec(spec, weights, target, device, base)
        checked = {(r.family, r.index) for c in radial for r in c.units}
        shown = [u for u in units if u.ref in checked]
    rows += faithfulness_rows(spec, Path(trained), device) if spec.faithfulness else []
    source = weights or f"{spec_path} built for {target}"
    print(f"{spec.name}: checks on {source}\n")
    if shown:
        print(tuning_table(shown, measurements, RadialSweep(**radial[0].stimulus)))
        print()
    print(checks_table(rows))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} expectations hold" + (f"; {len(failed)} FAILED" if failed else ""))
    robust = measurements.geometry(shown) if geometry and measurements is not None else []
    if robust:
        print(f"\npreferred orientation under {len(GEOMETRIES)} stimulus geometries (radius 15-60 px, span 60-180 deg, stroke 1.5-5 px, "
              "up to 6 px off centre, both polarities):\n")
        print(robustness_table(robust))
    if json_out:
        with atomic_target(json_out) as tmp:
            tmp.write_text(strict_json({"spec": spec.name, "spec_hash": spec.content_hash, "source": str(source),
                                       "rows": [asdict(r) for r in rows], "geometry": robustness_json(robust)}, indent=1))
    return 1 if failed else 0


def faithfulness_rows(spec: Spec, trained_path: Path, device: str) -> list[CheckRow]:
    """Each faithfulness claim measured: the spec compiled onto the trained network, spliced in,
    set against the ablation it names over its images."""
    opened = open_model(trained_path, device)
    trained = opened.model
    rows = []
    for claim in spec.faithfulness:
        arch = trained.architecture
        mapping = read_class_map(claim.class_map, arch.name) if claim.class_map else None
        items = list_items(claim.images, mapping, arch.name, claim.limit)
        side = open_circuit(Path(spec.file), trained.state_dict(), arch, claim.units)
        report = measure_faithfulness(trained, side, items, options=RunOptions(device=device), per_unit=False,
                                      weights_label=str(trained_path))
        if claim.measure in ("top1", "top5") and not report.labelled:
            raise UserError(f"{spec.file}: check {claim.name!r} measures {claim.measure} accuracy, and {claim.images} is not labelled",
                            hint="give a folder with a subfolder per class (class_map: for WordNet ids), or measure top1_agreement")
        estimate = report.recovered[claim.against][claim.measure]
        passed = estimate.value is not None and estimate.value >= claim.recovers_at_least
        rows.append(CheckRow(claim.name, f"{len(report.units)} units of {report.layer}",
                             f"recovered {WORDS[claim.measure]} {AGAINST[claim.against]} ({report.images} images)",
                             estimate.value if estimate.value is not None else float("nan"), f">= {claim.recovers_at_least:g}", passed))
    return rows
