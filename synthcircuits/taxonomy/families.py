"""The family table: what each unit family is called, which stimuli show it, the rule that
decides membership, and where the articles found it.

A rule is a list of conditions on named features (`census.features.FEATURES` says what each measures), written as
text, e.g. "arc_echo <= 0.3". Each family also says at which receptive-field sizes the
articles use its name (the articles call the same selectivity a Gabor at conv2d0 and a
line at conv2d2). A unit belongs to the first family, in table order, whose conditions all
hold; a unit that meets none is "other", with the nearest family and the condition it missed.
Add a family by adding a row: nothing else reads family names.

Torch-free: the spec language (`kind:`), the census and its reports all read this table.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

OTHER = "other"
# A unit whose strongest answer to the whole battery is below this fraction of the median answer
# of the layer's answering units is "other (weak)": the battery misses what drives it, so no rule
# should name it from its answers.
WEAK = 0.25

_OPS = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Condition:
    feature: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        parts = text.split()
        if len(parts) != 3 or parts[1] not in _OPS:
            raise ValueError(f"a condition reads 'feature >= number' or 'feature <= number', not {text!r}")
        return cls(parts[0], parts[1], float(parts[2]))

    def holds(self, x: float) -> bool:
        return bool(math.isfinite(x) and _OPS[self.op](x, self.value))

    def margin(self, x: float) -> float:
        """How far past the threshold, relative to it (negative: missed)."""
        if not math.isfinite(x):
            return -math.inf
        scale = abs(self.value) or 1.0
        return (x - self.value) / scale if self.op == ">=" else (self.value - x) / scale

    def __str__(self) -> str:
        return f"{self.feature} {self.op} {self.value:g}"


@dataclass(frozen=True)
class UnitFamily:
    name: str
    title: str  # in the articles' words
    stimuli: tuple[str, ...]  # battery kinds that show it (its sheet draws the unit's best of these)
    rule: tuple[Condition, ...]
    numbers: tuple[str, ...]  # features that describe a member (preferred orientation, hue, ...)
    field_px: tuple[float, float] = (0.0, math.inf)  # receptive-field widths the name is used at
    examples: dict[str, tuple[int, ...]] = field(default_factory=dict)  # the articles' units, by InceptionV1 layer

    def applies_at(self, field_px: float) -> bool:
        return self.field_px[0] <= field_px <= self.field_px[1]


def family(name: str, title: str, stimuli: str, rule: str, numbers: str = "", field_px=(0.0, math.inf),
           examples: dict[str, tuple[int, ...]] | None = None) -> UnitFamily:
    return UnitFamily(name, title, tuple(stimuli.split()), tuple(Condition.parse(c.strip()) for c in rule.split(",")),
                      tuple(numbers.split()), tuple(field_px), examples or {})


# Receptive fields (px, InceptionV1): conv2d0 7, conv2d1 11, conv2d2 19, mixed3a 59, mixed3b 91.
SMALL, EARLY = 15.0, 40.0

FAMILY_TABLE: tuple[UnitFamily, ...] = (
    family("curve", "curves", "arcs arc_lines",
           "drive_arcs >= 0.8, standing_arcs >= 0.25, arc_echo <= 0.15, curve_line >= 2, arc_width <= 90",
           "arc_preferred arc_echo arc_width curve_line", (EARLY, math.inf),
           {"mixed3b": (379, 385, 343, 342, 388, 324, 340, 330, 349, 406)}),
    family("early_curve", "early curves (curves with echoes)", "arcs arc_lines",
           "drive_arcs >= 0.8, standing_arcs >= 0.25, arc_echo <= 0.6, curve_line >= 1.3, arc_width <= 120",
           "arc_preferred arc_echo arc_width curve_line", (EARLY, math.inf),
           {"mixed3a": (92, 145, 95, 163, 71, 171, 147, 189, 137, 81, 104)}),
    family("tiny_curve", "tiny curves", "arcs arc_lines",
           "drive_arcs >= 0.8, standing_arcs >= 0.25, arc_echo <= 0.6, curve_line >= 1.3, arc_width <= 120",
           "arc_preferred arc_echo arc_width curve_line", (SMALL, EARLY),
           {"conv2d2": (182, 117, 171, 111, 63, 130, 146, 180, 39, 140, 32, 80)}),
    family("circle", "eyes / small circles", "rings arcs", "drive_rings >= 0.8, ring >= 1.5", "ring"),
    family("angle", "angles", "angles lines arcs", "drive_angles >= 0.8, angle >= 1.3", "angle"),
    family("cross", "crosses / diverging lines", "crosses lines", "drive_crosses >= 0.8, cross >= 1.3", "cross"),
    family("high_low_frequency", "high-low frequency", "high_low gratings",
           "drive_high_low >= 0.8, high_low >= 1.5, high_low_side >= 1.5", "high_low high_low_side",
           examples={"mixed3a": (110, 180, 153, 106, 112, 186, 132, 136, 117, 113, 108, 70, 86, 88, 160)}),
    family("black_and_white", "black-and-white vs colour", "fields", "drive_fields >= 0.5, grey_colour >= 2", "grey_colour"),
    family("colour_contrast", "colour contrast", "colour_contrast fields",
           "drive_colour_contrast >= 0.8, colour_contrast >= 1.2, colour_contrast_side >= 1.5", "colour_contrast colour_contrast_side"),
    family("colour_centre_surround", "colour center-surround", "centre_surround fields",
           "drive_centre_surround >= 0.8, centre_surround >= 1.2, centre_surround_chromatic >= 1", "centre_surround"),
    family("centre_surround", "complex center-surround (light and dark)", "centre_surround rings",
           "drive_centre_surround >= 0.8, centre_surround >= 1.2", "centre_surround"),
    family("colour", "colour / multicolour", "fields", "drive_fields >= 0.8, colour_grey >= 2, hue_lead >= 1.5", "hue colour_grey hue_lead"),
    family("gabor", "Gabor filters", "gratings lines", "drive_gratings >= 0.6, phase_modulation >= 0.6, grating_selectivity >= 0.5",
           "grating_orientation grating_wavelength phase_modulation", (0.0, 11.0),
           {"conv2d0": (9, 53, 54, 15, 22, 39, 30, 1, 3, 49, 14, 17, 62, 20)}),
    family("complex_gabor", "complex Gabors", "gratings lines", "drive_gratings >= 0.6, phase_modulation <= 0.5, grating_selectivity >= 0.5",
           "grating_orientation grating_wavelength phase_modulation", (0.0, SMALL),
           {"conv2d1": (51, 58, 30, 25, 52, 54, 22, 61, 55)}),
    family("shifted_line", "shifted lines", "shifted_lines lines",
           "drive_shifted_lines >= 0.6, shifted_line >= 1.5, shifted_line_edge >= 1, line_selectivity >= 0.5", "line_preferred shifted_line", (SMALL, math.inf)),
    family("line", "lines", "lines edges",
           "drive_lines >= 0.6, line_selectivity >= 0.5, line_width <= 90, line_edge >= 1", "line_preferred line_width line_edge",
           (SMALL, math.inf),
           {"conv2d2": (107, 31, 9, 112, 133, 103, 97, 125, 20, 33, 113, 185, 150, 166, 157, 57),
            "mixed3a": (227, 75, 146, 69, 169, 57, 154, 187, 27, 134, 150, 240, 101, 176)}),
    family("brightness_gradient", "brightness gradients", "ramps edges",
           "drive_gradient >= 0.8, edge_echo <= 0.5, edge_selectivity >= 0.5", "edge_preferred edge_echo"),
    family("hatch", "hatch textures", "hatches gratings", "drive_hatches >= 0.8, hatch >= 1.2", "hatch"),
    family("gabor_texture", "Gabor textures (oriented gratings)", "gratings",
           "drive_gratings >= 0.8, grating_selectivity >= 0.5", "grating_orientation grating_wavelength", (SMALL, math.inf)),
    family("texture", "textures (unoriented)", "gratings hatches",
           "drive_texture >= 0.8, grating_selectivity <= 0.5", "grating_wavelength frequency_selectivity", (SMALL, math.inf)),
)
FAMILIES_BY_NAME = {f.name: f for f in FAMILY_TABLE}

# Shorter names people write on a command line: for rows whose names are long, and for `find`'s
# tuned families (boundary -> boundaries).
ALIASES = {"high-low": "high_low_frequency", "high-low-frequency": "high_low_frequency", "black-and-white": "black_and_white",
           "colour-contrast": "colour_contrast", "color-contrast": "colour_contrast", "colour-centre-surround": "colour_centre_surround",
           "centre-surround": "centre_surround", "complex-gabor": "complex_gabor", "shifted-line": "shifted_line",
           "early-curve": "early_curve", "tiny-curve": "tiny_curve", "brightness-gradient": "brightness_gradient",
           "gabor-texture": "gabor_texture", "boundary": "boundaries"}


def family_named(text: str) -> str:
    """The table's name for a family as written on a command line (its name, or an alias)."""
    return ALIASES.get(text, text)
