"""`synthcircuits verify`: build a spec (or load weights), run its checks, print the tables."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..compile import Build, compile_spec
from ..dataset.items import list_items, read_class_map
from ..dataset.shards import RunOptions
from ..faithfulness import measure_faithfulness, open_circuit
from ..faithfulness.measures import WORDS
from ..faithfulness.report import AGAINST
from ..errors import UserError
from ..outputs import atomic_target
from ..models.zoo import load_model
from ..probe.geometry_sweep import GEOMETRIES, robustness_json, robustness_table
from ..layout.address import parse_unit
from ..probe.checks import GROUP_EXPECTATIONS, UNIT_EXPECTATIONS, CheckRow, DesignedUnit, Measurements, checks_table, run_checks, tuning_table
from ..images import load_image
from ..viz.featurevis import visualise
from ..viz.objectives import Neuron
from ..probe.tuning import ProbeUnit, RadialSweep
from ..language import Spec, load_spec
from .common import open_model
from ..jsontext import strict_json


def designed_units(build: Build, on_trained_layout: bool = False) -> list[DesignedUnit]:
    """The spec's units as the model holds them: in the build itself, or (for weights in the
    InceptionV1 layout, e.g. trained ones) at the addresses the spec gives them."""
    units = []
    for u in build.units:
        name = str(u.address) if u.address else f"{u.family}[{u.index}]"
        channel = u.address.channel if on_trained_layout else u.channel
        units.append(DesignedUnit((u.family, u.index), name, u.family, u.orientation, ProbeUnit(name, u.layer, channel)))
    return units


def verify_spec(spec: Spec, weights: Path | None = None, target: str = "inceptionv1", device: str = "cpu",
                base: Path | None = None) -> tuple[list[CheckRow], Build, Measurements, list[DesignedUnit]]:
    if not spec.checks:
        raise UserError(f"{spec.file}: the spec has no checks: section", hint="add checks (see specs/curve_circuit.yaml)")
    without_feature = None
    if weights is None:
        build = compile_spec(spec, target, base)
        model = build.model().to(device)
        units = designed_units(build)

        def without_feature(feature: str):
            return compile_spec(without_rules(spec, feature), target, base).model().to(device)
    else:
        build = compile_spec(spec, "inceptionv1", base)
        model = load_model(weights, device=device)
        if model.architecture.name != spec.architecture:
            raise UserError(f"{weights}: holds {model.architecture.name} weights; the spec's addresses are {spec.architecture} units",
                            hint="compare the circuit with these weights instead: synthcircuits compare SPEC WEIGHTS --layer-b LAYER")
        units = designed_units(build, on_trained_layout=True)
    measurements = Measurements(model, progress=True, without_feature=without_feature, paste=picture_parts(model, build))
    return run_checks(measurements, spec.checks, units), build, measurements, units


def without_rules(spec: Spec, feature: str) -> Spec:
    """The spec with every input rule that carries `feature` left out (a polysemantic unit's ablation)."""
    families = tuple(replace(f, inputs=tuple(r for r in f.inputs if r.feature != feature)) for f in spec.families)
    return replace(spec, families=families)


def picture_parts(model, build: Build):
    """Pasted picture parts for `model`: a unit's feature visualisation (seeded, so every run draws
    the same picture) or an image file, as (3, side, side) in [0, 1]; each drawn once per run."""
    drawn: dict[str, torch.Tensor] = {}

    def paste(kind: str, params: dict, side: int):
        key = json.dumps([kind, params, side], sort_keys=True)
        if key not in drawn:
            drawn[key] = draw(kind, params, side)
        return drawn[key]

    def draw(kind: str, params: dict, side: int):
        if kind == "image":
            path = Path(params["path"])
            return load_image(path if path.is_absolute() else Path(build.spec.file).parent / path, side)
        if not hasattr(model, "architecture") or build.target == "compact":
            raise UserError("visualisation parts name units by address; verify this spec with the inceptionv1 target")
        unit = parse_unit(params["unit"], model.architecture)
        images = visualise(model, Neuron(unit.layer, unit.channel), steps=int(params.get("steps", 128)), size=side, seed=0, progress=False)
        return images[max(images)][0].detach().cpu()
    return paste


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
