"""The JSON Schema of circuit specs: written once, used by editors and by the validator.

`validate_structure` runs it and turns the first error into a `SpecError` at the YAML
line and column of the offending value. Checks that need the architecture (does a unit
exist, is a family name known) live in `parse.py`.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from ..taxonomy import FAMILIES_BY_NAME as CENSUS_FAMILIES
from .source import Source

SPEC_VERSION = 1

_NUMBER = {"type": "number"}
_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_ODD_SIZE = {"type": "integer", "minimum": 1, "maximum": 15, "description": "kernel width in pixels (odd)"}
_RGB = {"type": "array", "items": _NUMBER, "minItems": 3, "maxItems": 3, "description": "weights on R, G, B"}
_IDENT = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
_COMMENT = {"type": "string", "description": "free text: the behaviour this part encodes"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def _one_of_keys(options: dict[str, dict[str, Any]], description: str) -> dict[str, Any]:
    """An object with exactly one of the given keys (a tagged union that editors complete)."""
    return {
        "type": "object",
        "properties": options,
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "description": description,
    }


PIXEL_KERNELS: dict[str, dict[str, Any]] = {
    "gabor": _object(
        {"size": _ODD_SIZE, "wavelength": _POSITIVE, "sigma": _POSITIVE, "phase": _NUMBER, "gain": _NUMBER, "color": _RGB},
        ("size", "wavelength", "sigma"),
        "oriented Gabor; orientation 0 has horizontal stripes; phase in degrees (0: even, bright centre)",
    ),
    "line": _object(
        {"size": _ODD_SIZE, "width": _POSITIVE, "length": _POSITIVE, "surround": _NUMBER, "gain": _NUMBER, "color": _RGB},
        ("size", "width"),
        "a bar through the centre at the unit's orientation; surround: weight of its flanks",
    ),
    "edge": _object(
        {"size": _ODD_SIZE, "width": _POSITIVE, "gain": _NUMBER, "color": _RGB},
        ("size",),
        "bright on the side the orientation's normal points to, dark on the other",
    ),
    "arc": _object(
        {"size": _ODD_SIZE, "radius": _POSITIVE, "width": _POSITIVE, "gain": _NUMBER, "color": _RGB},
        ("size", "radius"),
        "a circular arc through the centre whose convex side faces the unit's orientation",
    ),
    "center_surround": _object(
        {"size": _ODD_SIZE, "center_sigma": _POSITIVE, "surround_sigma": _POSITIVE, "surround_weight": _NUMBER, "gain": _NUMBER, "color": _RGB},
        ("size", "center_sigma", "surround_sigma"),
        "difference of Gaussians",
    ),
    "color_opponent": _object(
        {"size": _ODD_SIZE, "center": _RGB, "surround": _RGB, "center_sigma": _POSITIVE, "surround_sigma": _POSITIVE, "gain": _NUMBER},
        ("size", "center", "surround", "center_sigma", "surround_sigma"),
        "centre colour against surround colour",
    ),
    "explicit": _object(
        {"weights": {"type": "array", "minItems": 1, "description": "k x k (grey) or 3 x k x k (RGB) numbers"}},
        ("weights",),
        "weights written out; rotated copies are resampled",
    ),
}

SPATIAL_RULES: dict[str, dict[str, Any]] = {
    "center": _object({}, (), "only the centre position"),
    "along_line": _object(
        {"length": _POSITIVE, "width": _POSITIVE},
        (),
        "positions along the unit's orientation, within `width` of the line, up to `length` away",
    ),
    "along_arc": _object(
        {"radius": _POSITIVE, "width": _POSITIVE},
        ("radius",),
        "positions on an arc through the centre, convex side towards the unit's orientation, within `width` cells of it "
        "(a rectified source summed across that width tolerates a shifted arc)",
    ),
    # Arrangement: where in the target's receptive field a source is read, in the target's own
    # frame (it turns with the target's orientation); positions in grid cells of the target's kernel.
    "region": _object(
        {"side": {"enum": ["top", "bottom", "left", "right", "centre", "surround"],
                  "description": "top/bottom/left/right: the half beyond `beyond` cells on that side; centre: within `radius` "
                                 "cells; surround: beyond it"},
         "beyond": {"type": "number", "minimum": 0, "description": "how far from the centre the half starts (default 0.5 cell)"},
         "radius": _POSITIVE},
        ("side",),
        "a region of the receptive field relative to the unit's orientation (top is the side its orientation points to + 90 deg)",
    ),
    "ring": _object(
        {"radius": _POSITIVE, "width": _POSITIVE},
        ("radius",),
        "positions on a circle around the centre; a directed source is expected to face outward there, an undirected one "
        "to run along the circle (curves around a centre make a circle detector)",
    ),
    "offset": _object(
        {"x": _NUMBER, "y": _NUMBER, "width": _POSITIVE},
        ("x", "y"),
        "one position, x cells along the unit's orientation and y cells across it (y up for orientation 0)",
    ),
}

TUNING = {
    "type": "object",
    "description": "weight as a function of the input's orientation minus the orientation expected "
    "at that position: bumps (excite at 0, inhibit at half the input's period) or a table",
    "properties": {
        "excite": _NUMBER,
        "every": {"const": True, "description": "read every unit of the source family alike (weight `excite`), whatever its "
                  "orientation or hue: black-and-white units inhibit every colour unit"},
        "inhibit": _NUMBER,
        "width_deg": _POSITIVE,
        "table": {
            "type": "object",
            "description": "degrees (0..half the input's period) -> weight, linearly interpolated",
            "patternProperties": {"^[0-9]+(\\.[0-9]+)?$": _NUMBER},
            "additionalProperties": False,
            "minProperties": 2,
        },
    },
    "additionalProperties": False,
}

INPUT_RULE = {
    "type": "object",
    "description": "a connection rule from another family, written once, expanded for every pair of units",
    "properties": {
        "from": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 64}],
                 "description": "a family in the layer just before, or a list of them read by the same rule (a union)"},
        **SPATIAL_RULES,
        "tuning": TUNING,
        "turn": {"type": "number", "description": "degrees added to the orientation expected of a source at each position "
                 "(e.g. 90: read lines across the pattern rather than along it)"},
        "gain": _NUMBER,
        "feature": {**_IDENT, "description": "a name for what this rule detects; a unit whose rules carry two or more features "
                    "is polysemantic, and checks can ablate one feature by name"},
        "comment": _COMMENT,
    },
    "required": ["from"],
    "additionalProperties": False,
}

FAMILY = _object(
    {
        "name": _IDENT,
        "layer": {"type": "string", "description": "layer name, e.g. conv2d2 or mixed3b"},
        "branch": {"enum": ["1x1", "3x3", "5x5"], "description": "inception branch (for mixed layers)"},
        "orientations": {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": 720},
                {"type": "array", "items": _NUMBER, "minItems": 1, "maxItems": 720},
            ],
            "description": "N rotated copies spread evenly over the period, or explicit angles in degrees",
        },
        "period": {"enum": [180, 360], "description": "180 for undirected features (lines), 360 for directed (curves)"},
        "axis": {"enum": ["orientation", "hue"], "description": "what the copies turn in: orientation (space, the default) or hue "
                 "(colour around the grey axis, 0 = red, 120 = green, 240 = blue; period 360; kernels' colours turn, their shapes do not)"},
        "phases": {"type": "array", "items": _NUMBER, "minItems": 1, "maxItems": 64, "description": "copies per orientation at these phases"},
        "units": {"type": "array", "items": {"type": "string"}, "description": "where the units live, e.g. mixed3b:379"},
        "bias": _NUMBER,
        "keep": {"type": "boolean", "description": "with a base: these (pinned) units keep their trained weights and serve as inputs"},
        "kind": {"enum": list(CENSUS_FAMILIES), "description": "the census family these units are built to be (default: the family's "
                 "name, where that names one); `census` on the compiled model checks it"},
        "kernel": _one_of_keys(PIXEL_KERNELS, "weights on the input pixels (first layer only)"),
        "inputs": {"type": "array", "items": INPUT_RULE},
        "mirror_of": {**_IDENT, "description": "this family is the left-right mirror image of the named family in the same layer: "
                      "its kernels and rules are flipped and it reads its inputs' mirror partners (write no kernel or inputs)"},
        "comment": _COMMENT,
    },
    ("name", "layer"),
    "a family of units: rotated copies of one neuron",
)

CONNECTION = _object(
    {
        "from": {"type": "string", "description": "family[index] or a unit address"},
        "to": {"type": "string", "description": "family[index] or a unit address"},
        "weight": _NUMBER,
        "kernel": {"type": "array", "items": {"type": "array", "items": _NUMBER}, "description": "k x k weights"},
        "comment": _COMMENT,
    },
    ("from", "to"),
    "one explicit weight (centre tap) or kernel between two units, added to what rules give",
)

RADIAL_TUNING = _object(
    {
        "radius": {**_POSITIVE, "maximum": 1000, "description": "arc radius in px"},
        "step": {"type": "number", "minimum": 0.1, "maximum": 180, "description": "degrees between orientations"},
        "width": {**_POSITIVE, "maximum": 100, "description": "stroke width in px"},
        "span": {**_POSITIVE, "maximum": 360, "description": "arc length in degrees"},
        "size": {"type": "integer", "minimum": 32, "maximum": 1024, "description": "image side in px"},
    },
    (),
    "black arcs on white swept over 360 degrees, centred on each unit's receptive field "
    "(defaults: radius 32 px, step 5 deg, width 3 px, span 120 deg, 224 px images)",
)

EXPECTATIONS = {
    "preferred_orientation_within_deg": {**_POSITIVE, "description": "circular-mean preferred orientation vs the designed one"},
    "echo_at_most": {"type": "number", "minimum": 0, "description": "response 180 deg from the preferred, as a fraction of the peak"},
    "echo_at_least": {"type": "number", "minimum": 0, "description": "for units that should keep an echo (early curves)"},
    "curve_line_ratio_at_least": {**_POSITIVE, "description": "response to its curve over response to a straight line at the tangent"},
    "width_deg_at_most": {**_POSITIVE, "description": "full width at half maximum of the tuning curve"},
    "width_deg_at_least": {**_POSITIVE},
    "peak_follows_rotation": {"const": True, "description": "the stimulus at each unit's orientation drives that unit most among those checked"},
    "peak_at_least": {"type": "number", "description": "the strongest response over the sweep"},
    "peak_at_most": {"type": "number", "description": "the strongest response over the sweep, at most (with peak_at_least: the scale "
                     "the next stage is built for)"},
    "trough_at_most": {"type": "number", "minimum": 0, "description": "the weakest response over the sweep as a fraction of the "
                       "peak: 0 says the unit falls silent somewhere (its bias cuts the weak answers off)"},
    "preferred_orientation_across_geometry_within_deg": {
        **_POSITIVE, "description": "the preferred orientation stays this close to the designed one under every stimulus geometry "
        "of the robustness sweep (radius 15-60 px, span 60-180 deg, stroke 1.5-5 px, up to 6 px off centre, both polarities)"},
}

_XY = {"type": "array", "items": {"type": "number", "minimum": -2048, "maximum": 2048}, "minItems": 2, "maxItems": 2,
       "description": "[x, y] px from the picture's centre, x right, y up"}
_PX = {"type": "number", "exclusiveMinimum": 0, "maximum": 2048}

_CUES = {"type": "array", "items": {"enum": ["edge", "frequency", "colour"]}, "uniqueItems": True, "maxItems": 3,
         "description": "what tells the figure from the ground: edge (lighter), frequency (fine texture), colour (red against grey "
                        "of the same luminance); default all three"}
_SHAPE = {"enum": ["straight", "convex", "concave"], "description": "a straight boundary, or a circle's edge with the figure inside "
          "(convex) or outside (concave)"}

# What a part of a composed picture draws. Strokes are dark on the picture's background unless
# `colour` says otherwise.
PICTURE_PARTS: dict[str, dict[str, Any]] = {
    "line": _object({"angle": _NUMBER, "length": _PX, "width": _PX}, ("angle", "length"), "a straight stroke (angle 0: horizontal)"),
    "arc": _object({"orientation": _NUMBER, "radius": _PX, "span": {**_PX, "maximum": 360}, "width": _PX}, ("orientation", "radius"),
                   "an arc whose midpoint sits at `at` and whose convex side faces `orientation`"),
    "ring": _object({"radius": _PX, "width": _PX}, ("radius",), "a circle outline around `at`"),
    "disc": _object({"radius": _PX}, ("radius",), "a filled disc"),
    "box": _object({"width": _PX, "height": _PX, "stroke": _PX}, ("width", "height"), "a rectangle outline"),
    "visualisation": _object(
        {"unit": {"type": "string", "description": "a unit of the model under test, e.g. mixed4b:237"},
         "size": {"type": "integer", "minimum": 16, "maximum": 512}, "steps": {"type": "integer", "minimum": 1, "maximum": 2048}},
        ("unit",), "the unit's feature visualisation (seeded, so the same every run), pasted as a square of `size` px"),
    "image": _object({"path": {"type": "string"}, "size": {"type": "integer", "minimum": 8, "maximum": 1024}}, ("path",),
                     "an image file (e.g. a dataset-example crop), resized to `size` px square"),
    "boundary": _object(
        {"angle": _NUMBER, "cues": _CUES, "shape": _SHAPE, "radius": {**_PX, "description": "of a curved boundary (default 40)"},
         "against": {**_CUES, "description": "cues that mark the other side as the figure: cues in conflict"}},
        ("angle",),
        "a figure against its ground over the whole picture, meeting at a boundary through `at` (the figure on the side the angle's "
        "normal, +90 deg, points to), told apart by the cues"),
}
PICTURE_PART = {
    "type": "object",
    "properties": {**PICTURE_PARTS, "at": _XY, "colour": _RGB},
    "additionalProperties": False,
    "minProperties": 1,
    "description": "one drawn part: exactly one of " + ", ".join(PICTURE_PARTS) + ", placed `at` (default the centre)",
}
PICTURE = _object(
    {
        "size": {"type": "integer", "minimum": 32, "maximum": 1024, "description": "side in px (default 223: odd sizes keep "
                 "InceptionV1's strided grid left-right symmetric, so flipped pictures give exactly mirrored maps)"},
        "background": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 1}, _RGB]},
        "parts": {"type": "array", "items": PICTURE_PART, "maxItems": 64},
        "of": {"type": "string", "description": "another picture of this check, transformed by flip:"},
        "flip": {"enum": ["horizontal", "vertical"]},
    },
    (),
    "a picture composed of parts at chosen offsets, or another picture of the check flipped",
)
RATIO = _object(
    {"of": {"type": "string"}, "over": {"type": "string"}, "at_least": _NUMBER, "at_most": _NUMBER},
    ("of", "over"),
    "each unit's answer to picture `of` over its answer to picture `over`",
)
ANSWER = _object(
    {"to": {"type": "string"}, "at_least": _NUMBER, "at_most": _NUMBER},
    ("to",),
    "each unit's answer to picture `to` lies within the bounds given (the scale the next stage's bias is set for)",
)
CONJUNCTION = _object(
    {"of": {"type": "string", "description": "a drawn picture of two or more parts"},
     "at_most": {"type": "number", "minimum": 0, "description": "the strongest part alone over the whole picture"}},
    ("of", "at_most"),
    "the units need every part of the picture at once: each part drawn alone gets at most this fraction of the whole's answer",
)
_SOME = {"minItems": 1, "maxItems": 8}
VARY = _object(
    {"offset": {"type": "array", "items": _XY, **_SOME, "description": "every part moved by [x, y] px"},
     "width": {"type": "array", "items": {**_PX, "maximum": 100}, **_SOME, "description": "every stroke drawn this wide (px)"},
     "scale": {"type": "array", "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 8}, **_SOME,
               "description": "every size and placement scaled about the centre"},
     "polarity": {"type": "array", "items": {"enum": ["dark", "light"]}, "uniqueItems": True, "minItems": 1,
                  "description": "dark: as drawn; light: the picture's negative (light strokes on dark)"}},
    (),
    "stimulus variants: the picture claims (answer, ratio, conjunction) must hold under every combination, each reporting its worst",
)
CIRCLE_TUNING = _object(
    {
        "radius": {**_POSITIVE, "maximum": 500, "description": "the designed circle radius in px"},
        "width": {**_POSITIVE, "maximum": 50},
        "size": {"type": "integer", "minimum": 32, "maximum": 1024},
    },
    ("radius",),
    "dark circles on white centred on each unit, radius swept from 0.4x to 2.5x the design (24 steps), and arcs of the same length",
)
BOUNDARY_TUNING = _object(
    {
        "wavelength": {**_POSITIVE, "maximum": 200, "description": "px of the fine texture (default 3)"},
        "other_wavelength": {**_POSITIVE, "maximum": 1000, "description": "px of the other side's texture (default: flat grey)"},
        "step": {"type": "number", "minimum": 0.5, "maximum": 180},
        "size": {"type": "integer", "minimum": 32, "maximum": 1024},
    },
    (),
    "high-low frequency boundaries swept over 360 degrees: fine texture on the side the orientation's normal (+90) points to",
)
HUE_TUNING = _object(
    {
        "kind": {"enum": ["contrast", "field"], "description": "contrast (default): hue h left of a vertical boundary and h + 180 "
                 "right; field: hue h over the whole field"},
        "step": {"type": "number", "minimum": 0.5, "maximum": 180},
        "size": {"type": "integer", "minimum": 32, "maximum": 1024},
    },
    (),
    "saturated hues swept round the colour circle (0 red, 120 green, 240 blue); a hue family's units are checked against their hue",
)
LINE_TUNING = _object(
    {"length": {**_POSITIVE, "maximum": 1000, "description": "px (default 40)"}, "width": {**_POSITIVE, "maximum": 50},
     "step": {"type": "number", "minimum": 0.5, "maximum": 90}, "size": {"type": "integer", "minimum": 32, "maximum": 1024}},
    (),
    "dark straight lines through each unit's centre turned over 180 degrees (line families: period 180)",
)
CUE_TUNING = _object(
    {"cues": _CUES, "shape": _SHAPE, "radius": {**_POSITIVE, "maximum": 1000}, "step": {"type": "number", "minimum": 0.5, "maximum": 180},
     "size": {"type": "integer", "minimum": 32, "maximum": 1024}},
    (),
    "figure/ground boundaries swept over 360 degrees, the figure on the side the normal (+90) points to",
)
SWEEP_EXPECTATIONS = {
    "uniform_at_most": {"type": "number", "minimum": 0, "description": "the strongest answer to a uniform field (boundary_tuning: "
                        "either texture; hue_tuning: each of twelve hues) as a fraction of the peak"},
}
PICTURE_EXPECTATIONS = {
    "ratio": {"oneOf": [RATIO, {"type": "array", "items": RATIO, "minItems": 1}]},
    "answer": {"oneOf": [ANSWER, {"type": "array", "items": ANSWER, "minItems": 1}]},
    "conjunction": {"oneOf": [CONJUNCTION, {"type": "array", "items": CONJUNCTION, "minItems": 1}]},
    "mirror_partner": {"type": "string", "description": "a family: on every picture flipped left-right, its units answer "
                       "(over whole feature maps, flipped back) what these units answer on the original, within 1e-4 relative"},
    "flip_balance_within": {"type": "number", "minimum": 0, "description": "each unit's answers to every picture and to its "
                            "left-right flip differ by at most this fraction of the larger"},
    "features": _object(
        {"answers": {"type": "object", "additionalProperties": {"type": "string"}, "minProperties": 2,
                     "description": "feature name -> the picture that shows it"},
         "removed_at_most": {"type": "number", "minimum": 0}, "kept_at_least": {"type": "number", "minimum": 0}},
        ("answers",),
        "a polysemantic unit: it answers each feature's picture; with one feature's rules removed, the answer to that "
        "feature's picture falls to removed_at_most (default 0.2) of what it was and the others keep kept_at_least (0.9)",
    ),
}
CIRCLE_EXPECTATIONS = {
    "radius_within_fraction": {**_POSITIVE, "description": "the preferred radius is within this fraction of the designed one"},
    "circle_arc_ratio_at_least": {**_POSITIVE, "description": "the designed circle over the strongest arc of the same length "
                                  "(a half circle of twice the radius, at 8 orientations)"},
    "circle_half_circle_ratio_at_least": {**_POSITIVE, "description": "a full circle of the designed radius over the strongest half "
                                          "circle of the same radius (8 orientations, on the circle and centred), each read at the "
                                          "strongest position of the field"},
}

FAITHFULNESS_MEASURES = ("top1_agreement", "kl", "readout_r", "top1", "top5")
FAITHFULNESS = _object(
    {
        "images": {"type": "string", "description": "image folder (or one subfolder per class), list file or .npy batch, relative to "
                   "this spec"},
        "class_map": {"type": "string", "description": "lines `FOLDER_NAME label` naming class subfolders (needed for top1 and top5)"},
        "measure": {"enum": list(FAITHFULNESS_MEASURES), "description": "top1_agreement (default) or kl with the trained network, "
                    "readout_r (the next layer's correlation), top1 or top5 accuracy (labelled images)"},
        "against": {"enum": ["mean_ablation", "silencing"], "description": "the ablation the circuit is set against (default mean_ablation)"},
        "recovers_at_least": {"type": "number", "maximum": 1, "description": "1 - gap(spliced) / gap(ablated) must be at least this"},
        "units": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                  "description": "the units spliced (default: the spec's units in its deepest layer)"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "description": "at most this many images"},
    },
    ("images", "recovers_at_least"),
    "the network-level claim: spliced into the trained network (verify --weights, else the spec's base), the circuit keeps at least "
    "this fraction of what ablating its units costs",
)
CHECK = _object(
    {
        "name": {"type": "string"},
        "faithfulness": FAITHFULNESS,
        "units": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
            "description": "a family name, or a list of family names and pinned unit addresses",
        },
        "stimulus": {
            "oneOf": [{"enum": ["radial_tuning", "circle_tuning", "boundary_tuning", "hue_tuning", "cue_tuning", "line_tuning"]},
                      _one_of_keys({"radial_tuning": RADIAL_TUNING, "circle_tuning": CIRCLE_TUNING, "boundary_tuning": BOUNDARY_TUNING,
                                    "hue_tuning": HUE_TUNING, "cue_tuning": CUE_TUNING, "line_tuning": LINE_TUNING}, "a stimulus sweep")],
        },
        "pictures": {"type": "object", "additionalProperties": PICTURE, "minProperties": 1, "maxProperties": 32,
                     "description": "named pictures the expectations compare (arrangements, flips, a feature each)"},
        "at": {"enum": ["centre", "max", "every"], "description": "where picture claims read a unit's answer: the centre of the map "
               "(default), the strongest position whose receptive field holds the picture's centre (max), or each such position "
               "(every: ratios and conjunctions must hold wherever the unit answers)"},
        "vary": VARY,
        "expect": {**_object({**EXPECTATIONS, **SWEEP_EXPECTATIONS, **PICTURE_EXPECTATIONS, **CIRCLE_EXPECTATIONS}, (),
                             "what must hold for every unit"),
                   "minProperties": 1},
        "comment": _COMMENT,
    },
    (),
    "an expectation about the compiled units (units: and expect:), or a faithfulness: claim about the circuit spliced into the "
    "trained network, run by synthcircuits verify",
)

SPEC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "synthcircuits circuit spec",
    "type": "object",
    "properties": {
        "synthcircuits": {"const": SPEC_VERSION, "description": "spec language version"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "architecture": {"enum": ["inceptionv1", "bvlc_googlenet"],
                         "description": "the layout unit addresses refer to (bvlc_googlenet: a patch of trained weights, with base:)"},
        "base": {"type": "string", "description": "weights file to patch: units not named keep its weights"},
        "include": {"type": "array", "items": {"type": "string"}, "maxItems": 16,
                    "description": "spec files (relative to this one) whose families this spec builds on; their checks stay theirs"},
        "bottleneck_channels": {
            "type": "object",
            "description": "with a base: bottleneck channels (e.g. mixed3b_5x5: [0, 1]) the compiler may take over",
            "patternProperties": {"^(mixed|inception_)[0-9][a-e]_(3x3|5x5)$": {"type": "array", "items": {"type": "integer", "minimum": 0}}},
            "additionalProperties": False,
        },
        "zero": {"type": "array", "items": {"type": "string"}, "description": "units whose incoming weights and bias become zero"},
        "families": {"type": "array", "items": FAMILY, "minItems": 1},
        "connections": {"type": "array", "items": CONNECTION},
        "checks": {"type": "array", "items": CHECK},
        "comment": _COMMENT,
    },
    "required": ["synthcircuits", "name", "families"],
    "additionalProperties": False,
}


def validate_structure(source: Source, schema: dict[str, Any] = SPEC_SCHEMA) -> None:
    """Raise a SpecError at the place of the most relevant schema violation, if any."""
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(source.data))
    if error is None:
        return
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = [key for key in error.instance if key not in allowed]
        if unknown:  # point at the key itself, not at the block around it
            raise source.error(path + (unknown[0],), f"{_dotted(path)}: unknown key {unknown[0]!r}", _hint(error))
    raise source.error(path, _message(error, path), _hint(error))


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path) or "the document"


def _message(error: jsonschema.ValidationError, path: tuple) -> str:
    where = _dotted(path)
    if error.validator == "additionalProperties":
        return f"{where}: {error.message}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator in ("minProperties", "maxProperties") and isinstance(error.instance, dict):
        kinds = ", ".join(error.schema.get("properties", {}))
        return f"{where}: give exactly one of {kinds} (got {len(error.instance)})"
    return f"{where}: {error.message}"


def _hint(error: jsonschema.ValidationError) -> str | None:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and "properties" in schema:
        return "allowed here: " + ", ".join(schema["properties"])
    if error.validator == "const" and error.absolute_path and error.absolute_path[-1] == "synthcircuits":
        return f"this version of synthcircuits reads spec version {SPEC_VERSION}"
    return schema.get("description")
