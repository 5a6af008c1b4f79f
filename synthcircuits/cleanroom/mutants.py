"""Mutants of a circuit spec: each one change to the circuit as written, derived from the spec's
own structure (its families, rules, mirrors, unions and features).

A mutant is a plain `Spec`, so it builds through the same compiler as the original. The claims
(the spec's `checks:`) are not mutated: a good set of checks fails on every mutant that changes
what the circuit computes. Mutation operators, by key:

    sign            a rule's (or an explicit connection's, or a first-layer kernel's) sign flipped
    drop            a rule (or a connection) dropped
    gain_x0.3/x3    a rule's gain scaled
    bias_zero       a family's bias set to 0
    swap            two orientations of a family swapped (the claims keep the original's)
    unflipped       a `mirror_of:` family replaced by an unflipped copy of its original
    side            a region rule's side swapped (top/bottom, left/right, centre/surround)
    hue_180         a rule reading a hue family turned 180 degrees of hue (or a hue kernel family's hues)
    one_sided       a union rule (`from: [a, b]`) reading only one of its families
    no_inhibition   a rule's tuning without its inhibition
    swap_excite     a rule's excited and inhibited orientations swapped
    feature_drop    one named feature's rules dropped from a polysemantic family
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ..errors import Location
from ..language.model import Connection, Family, InputRule, Spec, Tuning

OPERATORS = ("sign", "drop", "gain_x0.3", "gain_x3", "bias_zero", "swap", "unflipped", "side", "hue_180", "one_sided",
             "no_inhibition", "swap_excite", "feature_drop")
OPPOSITE_SIDE = {"top": "bottom", "bottom": "top", "left": "right", "right": "left", "centre": "surround", "surround": "centre"}


@dataclass(frozen=True)
class Mutant:
    """One change to a spec: which operator, what it changed (in words), where it was written, the
    family whose weights it changes (with its mirror and everything downstream), and the changed spec."""

    operator: str
    change: str
    location: Location | None
    spec: Spec
    family: str

    @property
    def where(self) -> str:
        return f"{self.location.file}:{self.location.line}" if self.location is not None else self.spec.file


def derive_mutants(spec: Spec, most: int | None = None, seed: int = 0) -> list[Mutant]:
    """Every one-change mutant of `spec`'s own families (not those its `include:` brings), in a
    stable order; at most `most` of them, drawn with `seed` so every operator keeps its share."""
    own = [f for f in spec.families if _own(spec, f)]
    found = [m for family in own for m in _family_mutants(spec, family)]
    found += [m for k, c in enumerate(spec.connections) for m in _connection_mutants(spec, k, c)]
    if most is None or len(found) <= most:
        return found
    rng = random.Random(seed)
    by_operator: dict[str, list[Mutant]] = {}
    for m in found:
        by_operator.setdefault(m.operator, []).append(m)
    for group in by_operator.values():
        rng.shuffle(group)
    picked: list[Mutant] = []
    while len(picked) < most:  # round robin over operators, so a cap keeps every kind of change
        for group in by_operator.values():
            if group and len(picked) < most:
                picked.append(group.pop())
    order = {id(m): k for k, m in enumerate(found)}
    return sorted(picked, key=lambda m: order[id(m)])


def _own(spec: Spec, family: Family) -> bool:
    """Whether the family is written in the spec's own file (an included spec's families are its own business)."""
    return family.location is None or family.location.file == spec.file


def _family_mutants(spec: Spec, f: Family) -> Iterator[Mutant]:
    name = f.name

    def mutant(operator: str, change: str, where: Location | None, mutated: Spec) -> Mutant:
        return Mutant(operator, change, where, mutated, name)
    if f.mirror_of is not None:
        original = spec.family(f.mirror_of)
        copy = replace(original, name=f.name, units=f.units, path=f.path, location=f.location, mirror_of=None, keep=f.keep)
        yield Mutant("unflipped", f"{name}: an unflipped copy of {original.name}", f.location, _with_family(spec, copy), name)
        return  # everything else a mirror has is its original's: mutate the original
    if f.keep:
        return
    if f.kernel is not None:
        gain = f.kernel.params.get("gain", 1.0)
        flipped = replace(f, kernel=replace(f.kernel, params={**f.kernel.params, "gain": -gain}))
        yield mutant("sign", f"{name}: kernel gain {gain:g} -> {-gain:g}", f.location, _with_family(spec, flipped))
        if f.axis == "hue":
            turned = replace(f, orientations=tuple((t + 180.0) % 360.0 for t in f.orientations), uniform=False)
            yield mutant("hue_180", f"{name}: every hue turned 180 deg", f.location, _with_family(spec, turned))
    if f.bias != 0:
        yield mutant("bias_zero", f"{name}: bias {f.bias:g} -> 0", f.location, _with_family(spec, replace(f, bias=0.0)))
    if len(f.orientations) >= 2:
        a, b = 0, len(f.orientations) // 2 if len(f.orientations) > 2 else 1
        turned = list(f.orientations)
        turned[a], turned[b] = turned[b], turned[a]
        yield mutant("swap", f"{name}: orientations {f.orientations[a]:g} and {f.orientations[b]:g} swapped", f.location,
                      _with_family(spec, replace(f, orientations=tuple(turned), uniform=False)))
    groups = _rule_groups(f)
    for k, group in enumerate(groups, start=1):
        yield from _rule_mutants(spec, f, groups, k, group)
    for feature in f.features if len(f.features) >= 2 else ():
        kept = tuple(r for r in f.inputs if r.feature != feature)
        yield mutant("feature_drop", f"{name}: feature {feature!r}'s rules dropped", f.location,
                      _with_family(spec, replace(f, inputs=kept)))


def _rule_groups(f: Family) -> list[list[InputRule]]:
    """A family's rules as written: a union (`from: [a, b]`) is one rule over several families."""
    groups: dict[tuple, list[InputRule]] = {}
    for rule in f.inputs:
        groups.setdefault(rule.path, []).append(rule)
    return list(groups.values())


def _rule_mutants(spec: Spec, f: Family, groups: list[list[InputRule]], k: int, group: list[InputRule]) -> Iterator[Mutant]:
    first = group[0]
    label = f"{f.name}: rule {k} (from {', '.join(r.source for r in group)}, {first.spatial})"
    where = first.location or f.location

    def mutant(operator: str, change: str, where: Location | None, mutated: Spec) -> Mutant:
        return Mutant(operator, change, where, mutated, f.name)

    def changed(new_group: list[InputRule]) -> Spec:
        inputs = [r for j, g in enumerate(groups, start=1) for r in (new_group if j == k else g)]
        return _with_family(spec, replace(f, inputs=tuple(inputs)))

    yield mutant("sign", f"{label}: gain {first.gain:g} -> {-first.gain:g}", where, changed([replace(r, gain=-r.gain) for r in group]))
    yield mutant("drop", f"{label}: dropped", where, changed([]))
    for scale in (0.3, 3.0):
        yield mutant(f"gain_x{scale:g}", f"{label}: gain {first.gain:g} -> {first.gain * scale:g}", where,
                      changed([replace(r, gain=r.gain * scale) for r in group]))
    side = first.spatial_params.get("side") if first.spatial == "region" else None
    if side in OPPOSITE_SIDE:
        params = {**first.spatial_params, "side": OPPOSITE_SIDE[side]}
        yield mutant("side", f"{label}: side {side} -> {OPPOSITE_SIDE[side]}", where,
                      changed([replace(r, spatial_params=params) for r in group]))
    if any(spec.family(r.source).axis == "hue" for r in group):
        yield mutant("hue_180", f"{label}: reads the opposite hue", where, changed([replace(r, turn=r.turn + 180.0) for r in group]))
    if len(group) >= 2:
        for keep in group:
            yield mutant("one_sided", f"{label}: reads only {keep.source}", where, changed([keep]))
    t = first.tuning
    if t.inhibit != 0 and t.table is None and not t.every:
        yield mutant("no_inhibition", f"{label}: inhibit {t.inhibit:g} -> 0", where,
                      changed([replace(r, tuning=replace(r.tuning, inhibit=0.0)) for r in group]))
        swapped = Tuning(t.inhibit, t.excite, t.width_deg, None, False)
        yield mutant("swap_excite", f"{label}: excite {t.excite:g} and inhibit {t.inhibit:g} swapped", where,
                      changed([replace(r, tuning=swapped) for r in group]))


def _connection_mutants(spec: Spec, k: int, c: Connection) -> Iterator[Mutant]:
    label = f"connection {k + 1} ({c.source.family}[{c.source.index}] -> {c.target.family}[{c.target.index}])"
    rest = spec.connections[:k] + spec.connections[k + 1:]
    if c.kernel is not None:
        negated = replace(c, kernel=tuple(tuple(-v for v in row) for row in c.kernel))
    else:
        negated = replace(c, weight=-(c.weight or 0.0))
    yield Mutant("sign", f"{label}: sign flipped", None, replace(spec, connections=rest[:k] + (negated,) + rest[k:]), c.target.family)
    yield Mutant("drop", f"{label}: dropped", None, replace(spec, connections=rest), c.target.family)


def _with_family(spec: Spec, family: Family) -> Spec:
    return replace(spec, families=tuple(family if f.name == family.name else f for f in spec.families))

