"""A spec's own checks run on a model: the spec's build, or trained weights at the spec's addresses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from ..compile import Build, compile_spec
from ..errors import UserError
from ..images import load_image
from ..language import Spec
from ..layout.address import parse_unit
from ..probe.checks import CheckRow, DesignedUnit, Measurements, run_checks
from ..probe.tuning import ProbeUnit
from ..viz.featurevis import visualise
from ..viz.objectives import Neuron


@dataclass
class CheckedBuild:
    """What running a spec's checks gives: the rows, and what they were measured on."""

    rows: list[CheckRow]
    build: Build
    measurements: Measurements
    units: list[DesignedUnit]


def designed_units(build: Build, on_trained_layout: bool = False) -> list[DesignedUnit]:
    """The spec's units as the model holds them: in the build itself, or (for weights in the
    InceptionV1 layout, e.g. trained ones) at the addresses the spec gives them."""
    units = []
    for u in build.units:
        name = str(u.address) if u.address else f"{u.family}[{u.index}]"
        channel = u.address.channel if on_trained_layout else u.channel
        units.append(DesignedUnit((u.family, u.index), name, u.family, u.orientation, ProbeUnit(name, u.layer, channel)))
    return units


def check_build(spec: Spec, target: str = "inceptionv1", device: str = "cpu", base: Path | None = None, progress: bool = True,
                units: Sequence[DesignedUnit] | None = None, build: Build | None = None, first_failure: bool = False) -> CheckedBuild:
    """Build `spec` (unless `build` is its build already) and run its checks on the build. `units`
    holds the claims fixed: a mutant is measured against its original's designed units, not
    against what its own change designed. With `first_failure`, the checks run in order and stop
    after the first that fails (a mutant is killed by one)."""
    if not spec.checks:
        raise UserError(f"{spec.file}: the spec has no checks: section", hint="add checks (see specs/curve_circuit.yaml)")
    build = build if build is not None else compile_spec(spec, target, base)
    model = build.model().to(device)

    def without_feature(feature: str) -> nn.Module:
        return compile_spec(without_rules(spec, feature), target, base).model().to(device)

    checked = list(units) if units is not None else designed_units(build)
    measurements = Measurements(model, progress=progress, without_feature=without_feature, paste=picture_parts(model, build))
    if not first_failure:
        return CheckedBuild(run_checks(measurements, spec.checks, checked), build, measurements, checked)
    rows = []
    for check in spec.checks:
        rows += run_checks(measurements, [check], checked)
        if not all(r.passed for r in rows):
            break
    return CheckedBuild(rows, build, measurements, checked)


def check_weights(spec: Spec, model: nn.Module, weights: Path, base: Path | None = None, progress: bool = True) -> CheckedBuild:
    """The spec's checks on trained weights of its architecture, at the addresses it gives its units."""
    if not spec.checks:
        raise UserError(f"{spec.file}: the spec has no checks: section", hint="add checks (see specs/curve_circuit.yaml)")
    build = compile_spec(spec, "inceptionv1", base)
    if model.architecture.name != spec.architecture:
        raise UserError(f"{weights}: holds {model.architecture.name} weights; the spec's addresses are {spec.architecture} units",
                        hint="compare the circuit with these weights instead: synthcircuits compare SPEC WEIGHTS --layer-b LAYER")
    units = designed_units(build, on_trained_layout=True)
    measurements = Measurements(model, progress=progress, paste=picture_parts(model, build))
    return CheckedBuild(run_checks(measurements, spec.checks, units), build, measurements, units)


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
