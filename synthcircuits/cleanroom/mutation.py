"""Mutation testing of a spec's checks: build every mutant, run the original's checks on it, and
count the mutants the checks kill.

A mutant is *killed* when some check fails on it, *survives* when every check still holds,
is *equivalent* when no check could tell it from the original (not counted), and *stillborn*
when it does not build (not counted either). The score is killed / (killed + survived).

Equivalent means: its build's weights equal the original's, or its checked units compute the
same pre-activation maps (to 1e-4 of their largest) on a battery of pictures: noise, arcs,
lines, gratings, hue fields and the checks' own pictures. The second catches a change that
only renames channels, e.g. two orientations of an intermediate family swapped while the next
stage reads them by orientation. Pre-activations, not answers: a change that only moves a unit
further below zero on the battery (a stronger inhibition) still shows. Only a survivor is put
to the battery (the checks told the others apart).

Results are kept one file per mutant under the output folder, keyed by what they depend on
(the spec's content, the target, the mutant's change), so a stopped run resumes where it was.
With Ray, chunks of mutants go to the cluster's workers; each result is the same as a local one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..compile import compile_spec
from ..errors import UserError
from ..language import Spec
from ..language.source import SpecError
from ..layout.architectures import get_architecture
from ..outputs import atomic_target
from ..probe.checks import DesignedUnit
from ..probe.field_claims import Variant, variant_pictures
from ..probe.pictures import picture_maps
from ..stimuli import render
from ..stimuli.compose import PASTED
from ..tables import format_table
from .checked import check_build
from .mutants import Mutant, derive_mutants

STATUSES = ("killed", "survived", "equivalent", "stillborn")
EQUIVALENT = 1e-4  # relative to the largest pre-activation: float32 sums in another order (4e-5 seen); the same kernels in
# another channel order through the local response norm differ by more (2.5e-4 to 10%) and are not equivalent
BATTERY_SIZE = 159
RESULT_BYTES = 1 << 16  # a result file is a few hundred bytes; a larger one is not ours
RAY_CHUNK = 4  # mutants a Ray task builds and checks in turn (each task pays a worker's start)


@dataclass(frozen=True)
class MutantResult:
    number: int
    operator: str
    change: str
    where: str
    status: str  # one of STATUSES
    killed_by: tuple[str, ...] = ()  # the checks that failed on it
    reason: str = ""  # why a stillborn mutant did not build


@dataclass
class MutationReport:
    spec: str
    spec_file: str
    target: str
    checks: list[str]
    results: list[MutantResult] = field(default_factory=list)
    all_checks: bool = False  # every check ran on every mutant (else each stopped at its first kill)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def viable(self) -> int:
        return self.count("killed") + self.count("survived")

    @property
    def score(self) -> float | None:
        return self.count("killed") / self.viable if self.viable else None

    def survivors(self) -> list[MutantResult]:
        return [r for r in self.results if r.status == "survived"]

    def idle_checks(self) -> list[str]:
        """Checks that killed no mutant (where checks stop at the first kill: that were never the
        first to kill one; `all_checks` makes this exact)."""
        killing = {name for r in self.results for name in r.killed_by}
        return [c for c in self.checks if c not in killing]

    def summary(self) -> str:
        score = "n/a" if self.score is None else f"{self.score:.0%}"
        return (f"{self.spec}: mutation score {score} ({self.count('killed')} of {self.viable} viable mutants killed; "
                f"{self.count('equivalent')} equivalent, {self.count('stillborn')} stillborn)")

    def tables(self) -> str:
        by_operator: dict[str, dict[str, int]] = {}
        for r in self.results:
            by_operator.setdefault(r.operator, dict.fromkeys(STATUSES, 0))[r.status] += 1
        rows = [[op, *counts.values(), _score(counts)] for op, counts in by_operator.items()]
        text = [self.summary(), "", format_table(["operator", *STATUSES, "score"], rows)]
        survivors = self.survivors()
        if survivors:
            text += ["", "survivors (the checks hold on these wrong circuits):", "",
                     format_table(["#", "operator", "change", "written at"], [[r.number, r.operator, r.change, r.where] for r in survivors])]
        idle = self.idle_checks()
        if idle:
            text += ["", ("checks that killed no mutant: " if self.all_checks else
                          "checks that were never the first to kill a mutant (--all-checks runs every check on every mutant): ")
                     + ", ".join(idle)]
        return "\n".join(text)

    def as_json(self) -> dict:
        return {"spec": self.spec, "spec_file": self.spec_file, "target": self.target, "all_checks": self.all_checks, "score": self.score,
                "counts": {s: self.count(s) for s in STATUSES}, "checks": self.checks, "idle_checks": self.idle_checks(),
                "mutants": [asdict(r) for r in self.results]}


def _score(counts: dict[str, int]) -> str:
    viable = counts["killed"] + counts["survived"]
    return f"{counts['killed'] / viable:.0%}" if viable else "-"


def fastest_target(spec: Spec) -> str:
    """The build the checks run fastest on: the compact one (only the spec's units), unless the
    spec needs InceptionV1's layout (pasted visualisations name its units; kept units patch a base)."""
    pastes_visualisations = any("visualisation" in part for c in spec.checks for p in c.pictures.values() for part in p.get("parts", []))
    return "inceptionv1" if pastes_visualisations or spec.base is not None or any(f.keep for f in spec.families) else "compact"


def mutation_test(spec: Spec, target: str = "auto", most: int | None = None, seed: int = 0, device: str = "cpu",
                  output: Path | None = None, ray: str | None = None, progress: bool = True, all_checks: bool = False,
                  base: Path | None = None) -> MutationReport:
    """Every mutant of `spec` (at most `most`, drawn with `seed`) built and held to the spec's checks
    (on `target`'s build; `auto`: the compact build where the spec allows, the same claims at a
    fraction of the time: 16 s against 106 s for mirror_pathways.yaml's 39 mutants). A mutant's
    checks stop at the first that kills it, as test runners' mutation tools do; `all_checks`
    runs every check on every mutant, so each mutant's `killed_by` and the idle checks are complete.
    `base`: the weights a spec that keeps trained units patches (where it names none)."""
    target = "inceptionv1" if target == "auto" and base is not None else (fastest_target(spec) if target == "auto" else target)
    original = check_build(spec, target, device, base, progress=False)
    failing = sorted({r.check for r in original.rows if not r.passed})
    if failing:
        raise UserError(f"{spec.file}: the spec fails its own checks ({', '.join(failing)}); mutation testing asks whether the checks "
                        "catch a wrong circuit, so the right one must pass them first", hint=f"run: synthcircuits verify {spec.file}")
    mutants = derive_mutants(spec, most, seed)
    report = MutationReport(spec.name, spec.file, target, list(dict.fromkeys(c.name for c in spec.checks)), all_checks=all_checks)
    done = _recorded(output, spec, target, mutants, all_checks, base) if output is not None else {}
    todo = [k for k in range(len(mutants)) if k not in done]
    reference = Reference(spec, original.build)
    results = dict(done)
    found = (_on_ray(spec, target, device, original.units, mutants, todo, ray, all_checks, base) if ray
             else (_judge(k, mutants[k], reference, target, device, original.units, all_checks, base) for k in todo))
    bar = tqdm(total=len(mutants), initial=len(done), desc="mutants", unit="mutant", disable=not progress, leave=False)
    with bar:
        for result in found:
            results[result.number] = result
            if output is not None:
                _record(output, spec, target, mutants[result.number], result, all_checks, base)
            bar.update(1)
    report.results = [results[k] for k in range(len(mutants))]
    return report


class Reference:
    """What a mutant is compared with: the original's weights, and (drawn when first asked for) its
    checked units' maps on the battery."""

    def __init__(self, spec: Spec, build):
        self.spec, self.build, self.state = spec, build, build.state
        self._battery: torch.Tensor | None = None
        self._maps: list[np.ndarray] | None = None

    def same_function(self, build, units: Sequence[DesignedUnit], device: str) -> bool:
        probes = [u.probe for u in units if u.ref[0] in self.checked_families]
        if self._battery is None:
            self._battery = probe_battery(self.spec)
            self._maps = picture_maps(self.build.model().to(device), probes, self._battery.to(device), pre_relu=True)
        if not all(np.ptp(m) > 0 for m in self._maps):
            return False  # a unit the battery leaves constant: the maps prove nothing
        maps = picture_maps(build.model().to(device), probes, self._battery.to(device), pre_relu=True)
        return all(np.abs(a - b).max() <= EQUIVALENT * np.abs(a).max() for a, b in zip(self._maps, maps))

    @property
    def checked_families(self) -> set[str]:
        return {r.family for check in self.spec.checks for r in check.units}


def probe_battery(spec: Spec, size: int = BATTERY_SIZE) -> torch.Tensor:
    """Pictures that drive most early units: noise (fine and coarse), arcs at eight orientations, lines
    and gratings at four, red and green fields, and the centre of every picture the spec's checks
    draw (seeded: the same every run). `size` px square: enough for any unit up to mixed4a to see
    whole shapes, at half the cost of a 223 px picture."""
    g = torch.Generator().manual_seed(0)
    noise = [torch.rand(1, 3, size, size, generator=g),
             torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(size, size), mode="bilinear")]
    angles = torch.arange(0.0, 360.0, 45.0)
    shapes = [render.arcs(angles, 32.0, size=size), render.lines(angles[:4], length=60.0, size=size),
              render.gratings(angles[:4], wavelength=6.0, size=size), render.fields([(1.0, 0.2, 0.2), (0.2, 0.8, 0.2)])
              .expand(-1, -1, size, size)]
    drawn = [_centre(image, size) for check in spec.checks if check.pictures and not _pastes(check)
             for image in variant_pictures(check, Variant(), None).values() if image.shape[-1] >= size]
    return torch.cat([*noise, *shapes, *([torch.stack(drawn)] if drawn else [])]).clamp(0, 1)


def _centre(image: torch.Tensor, size: int) -> torch.Tensor:
    top = (image.shape[-1] - size) // 2
    return image[..., top:top + size, top:top + size]


def _pastes(check) -> bool:
    return any(kind in part for p in check.pictures.values() for part in p.get("parts", []) for kind in PASTED)


def affected_checks(spec: Spec, mutant: Mutant) -> tuple:
    """The checks a mutant can change: those with a unit in the changed family's layer or later,
    nearest the change first (the likeliest to catch it). The layers below keep the original's
    weights, so the original's (passing) rows stand for them, and the mutant is measured only
    where it differs."""
    arch = get_architecture(spec.architecture)
    order = {layer.name: k for k, layer in enumerate(arch.layers)}

    def depth(family: str) -> int:
        return order[arch.layer(spec.family(family).layer).name]

    changed = depth(mutant.family)
    reached = [c for c in spec.checks if any(depth(r.family) >= changed for r in c.units)]
    return tuple(sorted(reached, key=lambda c: min(d for d in (depth(r.family) for r in c.units) if d >= changed)))


def _judge(number: int, mutant: Mutant, reference: Reference, target: str, device: str,
           units: Sequence[DesignedUnit], all_checks: bool = False, base: Path | None = None) -> MutantResult:
    """Build one mutant and run the original's checks (those its change can reach), with the
    original's designed units, on it: until one fails, or with `all_checks` every one."""
    head = (number, mutant.operator, mutant.change, mutant.where)
    try:
        build = compile_spec(mutant.spec, target, base)
    except (SpecError, UserError) as exc:
        return MutantResult(*head, "stillborn", reason=str(exc).splitlines()[0])
    if _same_weights(build.state, reference.state):
        return MutantResult(*head, "equivalent")
    reached = replace(mutant.spec, checks=affected_checks(mutant.spec, mutant))
    if not reached.checks:  # the change lies past every checked unit
        return MutantResult(*head, "equivalent" if reference.same_function(build, units, device) else "survived")
    try:
        checked = check_build(reached, target, device, base, units=units, build=build, progress=False, first_failure=not all_checks)
    except (SpecError, UserError) as exc:  # e.g. a check the mutant's build cannot be measured by
        return MutantResult(*head, "stillborn", reason=str(exc).splitlines()[0])
    failed = tuple(dict.fromkeys(r.check for r in checked.rows if not r.passed))
    if failed:
        return MutantResult(*head, "killed", killed_by=failed)
    # Only a survivor can be equivalent (the checks told the others apart), so only survivors pay for the battery.
    return MutantResult(*head, "equivalent" if reference.same_function(build, units, device) else "survived")


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _on_ray(spec: Spec, target: str, device: str, units: Sequence[DesignedUnit], mutants: Sequence[Mutant], todo: Sequence[int],
            address: str, all_checks: bool, base: Path | None) -> Iterator[MutantResult]:
    """The mutants in chunks on Ray's workers, each chunk building the original once for the weights to compare."""
    from ..dataset.ray_runner import ray_session

    if not todo:
        return
    with ray_session(address) as ray:
        task = ray.remote(num_cpus=1)(_judge_chunk)
        chunks = [list(todo[k:k + RAY_CHUNK]) for k in range(0, len(todo), RAY_CHUNK)]
        pending = [task.remote(spec, target, device, list(units), [(k, mutants[k]) for k in chunk], all_checks, base) for chunk in chunks]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(ready[0])


def _judge_chunk(spec: Spec, target: str, device: str, units: list[DesignedUnit], numbered: list[tuple[int, Mutant]],
                 all_checks: bool, base: Path | None = None) -> list[MutantResult]:
    torch.set_num_threads(1)  # one worker a CPU
    reference = Reference(spec, compile_spec(spec, target, base))
    return [_judge(k, m, reference, target, device, units, all_checks, base) for k, m in numbered]


# -- the resumable record ---------------------------------------------------------------------------


def _key(spec: Spec, target: str, mutant: Mutant, all_checks: bool, base: Path | None = None) -> str:
    """What a mutant's result depends on: the spec's content (its includes' too), the target, the
    change, whether every check ran, the base weights (path, size and time) and the version."""
    source = base or spec.base
    weights = None if source is None else [str(source), source.stat().st_size, source.stat().st_mtime_ns]
    text = json.dumps([spec.content_hash, [str(p) for p in spec.includes], target, mutant.operator, mutant.change, all_checks, weights,
                       __version__])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _result_path(output: Path, number: int) -> Path:
    return output / "mutants" / f"{number:05d}.json"


def _record(output: Path, spec: Spec, target: str, mutant: Mutant, result: MutantResult, all_checks: bool, base: Path | None) -> None:
    with atomic_target(_result_path(output, result.number), now=True) as tmp:
        tmp.write_text(json.dumps({"key": _key(spec, target, mutant, all_checks, base), "result": asdict(result)}), encoding="utf-8")


def _recorded(output: Path, spec: Spec, target: str, mutants: Sequence[Mutant], all_checks: bool,
              base: Path | None) -> dict[int, MutantResult]:
    """The results a previous run of the same mutation test left, where they still apply."""
    found = {}
    for k, mutant in enumerate(mutants):
        record = _read_result(_result_path(output, k))
        if record is None or record["key"] != _key(spec, target, mutant, all_checks, base):
            continue  # computed again: a damaged, foreign or stale result is only a cache miss
        r = record["result"]
        found[k] = MutantResult(r["number"], r["operator"], r["change"], r["where"], r["status"], tuple(r["killed_by"]), r["reason"])
    return found


def _read_result(path: Path) -> dict | None:
    try:
        if not path.is_file() or path.stat().st_size > RESULT_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if _valid_result(data) else None


def _valid_result(data) -> bool:
    r = data.get("result") if isinstance(data, dict) else None
    return (isinstance(data.get("key"), str) and isinstance(r, dict) and r.get("status") in STATUSES
            and isinstance(r.get("number"), int) and all(isinstance(r.get(k), str) for k in ("operator", "change", "where", "reason"))
            and isinstance(r.get("killed_by"), list) and all(isinstance(c, str) for c in r["killed_by"]))
