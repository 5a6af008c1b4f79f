"""Typed, validated spec objects. They know unit addresses, but nothing of torch or weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Location
from ..layout.address import UnitAddress

DocPath = tuple[Any, ...]


def mirror_angle(theta: float, period: float, axis: str = "orientation") -> float:
    """An orientation reflected left-right (across the vertical axis): 30 -> 150, 90 -> 90. A hue
    is its own mirror image."""
    return theta % period if axis == "hue" else (180.0 - theta) % period


@dataclass(frozen=True)
class PixelKernel:
    kind: str  # a key of schema.PIXEL_KERNELS
    params: dict[str, Any]


@dataclass(frozen=True)
class Tuning:
    """Weight by orientation difference: bumps at 0 (excite) and half a period (inhibit), or a table."""

    excite: float = 1.0
    inhibit: float = 0.0
    width_deg: float = 20.0
    table: tuple[tuple[float, float], ...] | None = None  # (degrees, weight), sorted
    every: bool = False  # every source unit alike, whatever its orientation or hue (weight `excite`)


@dataclass(frozen=True)
class InputRule:
    source: str  # family name
    spatial: str  # a key of schema.SPATIAL_RULES: "center", "along_line", "along_arc", "region", "ring", "offset"
    spatial_params: dict[str, float | str]
    tuning: Tuning
    gain: float
    path: DocPath  # where it was written, for errors found later
    turn: float = 0.0  # degrees added to the orientation the pattern expects of a source unit at each position
    feature: str = ""  # the named feature of a polysemantic unit this rule carries ("" for none)
    location: Location | None = None  # where the rule was written, for errors found while compiling


@dataclass(frozen=True)
class Family:
    name: str
    layer: str
    branch: str | None
    orientations: tuple[float, ...]
    uniform: bool  # orientations were given as a count, spread evenly over the period
    period: int
    phases: tuple[float, ...]
    units: tuple[UnitAddress, ...] | None  # pinned channels, orientation-major then phase
    bias: float
    kernel: PixelKernel | None
    inputs: tuple[InputRule, ...]
    path: DocPath
    keep: bool = False  # units keep the base's weights; the family only names them as inputs
    location: Location | None = None  # where the family was written, for errors found while compiling
    kind: str = ""  # the census family it is designed to be (`census.families`); "" means its name
    mirror_of: str | None = None  # the family it is the left-right mirror image of (weights flipped, inputs swapped)
    axis: str = "orientation"  # what its copies turn in: "orientation" (space) or "hue" (colour, around the grey axis)
    features: tuple[str, ...] = ()  # the named features its rules carry (a polysemantic unit has two or more)

    @property
    def size(self) -> int:
        return len(self.orientations) * len(self.phases)

    def orientation_of(self, index: int) -> float:
        return self.orientations[index // len(self.phases)]

    def phase_of(self, index: int) -> float:
        return self.phases[index % len(self.phases)]

    @property
    def step(self) -> float:
        return self.period / len(self.orientations)


@dataclass(frozen=True)
class UnitRef:
    """A unit named in a connection: `family[index]` or an address pinned by some family."""

    family: str
    index: int


@dataclass(frozen=True)
class Connection:
    source: UnitRef
    target: UnitRef
    weight: float | None
    kernel: tuple[tuple[float, ...], ...] | None
    path: DocPath


@dataclass(frozen=True)
class Check:
    """An expectation about compiled units under a stimulus sweep (run by `verify`)."""

    name: str
    units: tuple[UnitRef, ...]
    stimulus: dict[str, float]  # the sweep's parameters
    expect: dict[str, Any]
    path: DocPath
    sweep: str = "radial_tuning"  # "radial_tuning" or "circle_tuning"
    pictures: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> picture (schema.PICTURE), validated
    location: Location | None = None  # where the check is written, for what only measuring can find wrong with it
    at: str = "centre"  # where picture answers are read: "centre", "max" (anywhere in the field) or "every" (each position)
    vary: dict[str, Any] = field(default_factory=dict)  # stimulus variants the picture claims must hold under (schema.VARY)


@dataclass(frozen=True)
class FaithfulnessClaim:
    """A clean-room test at the level of the network: spliced into the trained network, the
    circuit recovers at least `recovers_at_least` of what ablating its units costs (run by `verify`)."""

    name: str
    images: Path
    recovers_at_least: float
    measure: str = "top1_agreement"
    against: str = "mean"  # "mean" (mean ablation) or "zero" (silencing)
    units: tuple[UnitAddress, ...] = ()
    class_map: Path | None = None
    limit: int | None = None
    path: DocPath = ()


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    architecture: str
    families: tuple[Family, ...]
    connections: tuple[Connection, ...] = ()
    checks: tuple[Check, ...] = ()
    faithfulness: tuple[FaithfulnessClaim, ...] = ()
    base: Path | None = None
    zero: tuple[UnitAddress, ...] = ()
    bottleneck_channels: dict[str, tuple[int, ...]] = field(default_factory=dict)
    file: str = "<spec>"
    content_hash: str = ""
    includes: tuple[Path, ...] = ()  # spec files whose families come first

    def family(self, name: str) -> Family:
        for family in self.families:
            if family.name == name:
                return family
        raise KeyError(name)

    @property
    def unit_count(self) -> int:
        return sum(f.size for f in self.families)
