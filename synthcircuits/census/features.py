"""The numbers the family table reads: each unit's answers to the battery, reduced to named
features (one array over the layer's units each).

Ratios compare the best stimulus of one kind with the best of its control kind (a ring against
arcs, a fine-on-flat half grating against full fine gratings), so they do not depend on the
unit's scale. `drive_<kind>` is the kind's best answer over the unit's best answer to anything.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .battery import BATTERY, HUES, INKS, LayerResponses

FEATURES: dict[str, str] = {}  # name -> what it measures (the census page and README list these)


def _feature(name: str, meaning: str) -> str:
    FEATURES[name] = meaning
    return name


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b for non-negative answers, bounded: 0/0 is 1 (no preference), x/0 is 100."""
    a, b = np.clip(a, 0, None), np.clip(b, 0, None)
    out = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a > 0, 100.0, 1.0))
    return np.minimum(out, 100.0)


def _circular(responses: np.ndarray, angles: np.ndarray, period: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per unit (columns): preferred angle (circular mean above half the peak), response half a
    period away over the peak (echo), and full width at half maximum in degrees."""
    r = np.clip(responses, 0, None)
    peak = r.max(axis=0)
    weights = np.clip(r - peak / 2, 0, None)
    phase = np.exp(1j * np.deg2rad(angles) * 360.0 / period)[:, None]
    mean = np.angle((weights * phase).sum(axis=0))
    preferred = np.where(weights.sum(axis=0) > 0, np.rad2deg(mean) * period / 360.0 % period, np.nan)
    opposite = np.array([np.interp((p + period / 2) % period, np.r_[angles, angles[0] + period], np.r_[r[:, k], r[0, k]])
                         if np.isfinite(p) else np.nan for k, p in enumerate(preferred)])
    echo = np.where(peak > 0, opposite / np.where(peak > 0, peak, 1.0), np.nan)
    above = (r >= peak / 2).sum(axis=0)
    width = np.where(peak > 0, above * (period / len(angles)), np.nan)
    return preferred, echo, width


def _at(responses: np.ndarray, angles: np.ndarray, targets: np.ndarray, period: float) -> np.ndarray:
    """Each unit's response at its own target angle (interpolated on the circle)."""
    a = np.r_[angles, angles[0] + period]
    return np.array([np.interp(t % period, a, np.r_[responses[:, k], responses[0, k]]) if np.isfinite(t) else 0.0
                     for k, t in enumerate(targets)])


def _selectivity(curves: np.ndarray) -> np.ndarray:
    """1 - min/max over a tuning curve (rows), per unit."""
    top = curves.max(axis=0)
    return np.where(top > 0, 1.0 - np.clip(curves.min(axis=0), 0, None) / np.where(top > 0, top, 1.0), 0.0)


def unit_features(measured: LayerResponses) -> dict[str, np.ndarray]:
    """Named features over the layer's units."""
    out: dict[str, np.ndarray] = {}
    for compute in _COMPUTERS:
        out.update(compute(measured, out))
    return out


def with_dataset(features: dict[str, np.ndarray], dataset_max: np.ndarray) -> dict[str, np.ndarray]:
    """Features from dataset evidence: how much of a unit's strongest dataset answer the battery
    reaches (low: the unit wants something the battery does not draw)."""
    reach = np.where(np.isfinite(dataset_max), _ratio(features["peak"], np.nan_to_num(dataset_max)), np.nan)
    return {_feature("battery_reach", "the battery's best answer over the unit's best answer over the dataset (with --images)"): reach}


def _peaks(m: LayerResponses, _) -> dict[str, np.ndarray]:
    best = {k.name: np.clip(m[k.name], 0, None).max(axis=0) for k in BATTERY}
    peak = np.max(np.stack(list(best.values())), axis=0)
    out = {_feature("peak", "the unit's strongest answer to any stimulus of the battery"): peak}
    for name, value in best.items():
        out[_feature(f"drive_{name}", f"best answer to {name} over the unit's peak")] = _ratio(value, peak)
        out[_feature(f"standing_{name}", f"best answer to {name} over the layer's strongest answer to {name}")] = \
            _ratio(value, np.full_like(value, value.max()))
    out[_feature("drive_gradient", "the better of drive_ramps and drive_edges")] = np.maximum(out["drive_ramps"], out["drive_edges"])
    out[_feature("drive_texture", "the better of drive_gratings and drive_hatches")] = np.maximum(out["drive_gratings"], out["drive_hatches"])
    return out


def by(m: LayerResponses, kind: str, key: str = "orientation") -> tuple[np.ndarray, np.ndarray]:
    """The kind's values of `key` and, for each, every unit's best answer over the grid's other
    axes (e.g. an orientation tuning curve taking the better polarity): (values, (values, units))."""
    column = m.grid(kind)[key]
    values = np.unique(column)
    r = np.clip(m[kind], 0, None)
    return values, np.stack([r[column == v].max(axis=0) for v in values])


def _orientation(m: LayerResponses, _) -> dict[str, np.ndarray]:
    arc_angles, arc_r = by(m, "arcs")
    arc_pref, arc_echo, arc_width = _circular(arc_r, arc_angles, 360.0)
    at_curve = _at(arc_r, arc_angles, arc_pref, 360.0)
    tangent_angles, tangent_r = by(m, "arc_lines")
    at_line = _at(tangent_r, tangent_angles, arc_pref, 360.0)
    line_angles, line_r = by(m, "lines")
    line_pref, _, line_width = _circular(line_r, line_angles, 180.0)
    edge_pref, edge_echo, _ = _circular(m["edges"], m.grid("edges")["orientation"], 360.0)
    best_line = line_r.max(axis=0)
    return {
        _feature("arc_preferred", "preferred arc orientation, degrees over 360 (convex side)"): arc_pref,
        _feature("arc_echo", "answer to the arc turned 180 degrees from the preferred, over the peak"): arc_echo,
        _feature("arc_width", "full width at half maximum of the arc tuning, degrees"): arc_width,
        _feature("curve_line", "preferred arc over a straight line along its tangent"): _ratio(at_curve, at_line),
        _feature("line_preferred", "preferred line orientation, degrees over 180"): line_pref,
        _feature("line_selectivity", "1 - min/max over line orientations"): _selectivity(line_r),
        _feature("line_width", "full width at half maximum of the line tuning, degrees"): line_width,
        _feature("line_edge", "best line over best light-dark edge"): _ratio(best_line, np.clip(m["edges"], 0, None).max(axis=0)),
        _feature("shifted_line", "best line off the centre over best line through it"):
            _ratio(np.clip(m["shifted_lines"], 0, None).max(axis=0), best_line),
        _feature("shifted_line_edge", "best line off the centre over best light-dark edge"):
            _ratio(np.clip(m["shifted_lines"], 0, None).max(axis=0), np.clip(m["edges"], 0, None).max(axis=0)),
        _feature("edge_preferred", "preferred edge orientation, degrees over 360 (light side's normal)"): edge_pref,
        _feature("edge_echo", "answer to the reversed edge over the preferred (polarity)"): edge_echo,
        _feature("edge_selectivity", "1 - min/max over edge orientations"): _selectivity(m["edges"]),
    }


def _gratings(m: LayerResponses, _) -> dict[str, np.ndarray]:
    g = m.grid("gratings")
    o, w, ph = np.unique(g["orientation"]), np.unique(g["wavelength"]), np.unique(g["phase"])
    r = np.clip(m["gratings"], 0, None).reshape(len(o), len(w), len(ph), -1)  # grid order: orientation, wavelength, phase
    over_phase = r.max(axis=2)  # (o, w, units)
    units = np.arange(r.shape[-1])
    flat = over_phase.reshape(len(o) * len(w), -1).argmax(axis=0)
    bo, bw = np.unravel_index(flat, (len(o), len(w)))
    phases = r[bo, bw, :, units]  # (units, phases)
    top = phases.max(axis=1)
    modulation = np.where(top > 0, (top - phases.min(axis=1)) / np.where(top > 0, top, 1.0), 0.0)
    by_orientation = over_phase[:, bw, units]  # (o, units)
    by_wavelength = over_phase[bo, :, units].T  # (w, units)
    mean_phase = r.mean(axis=2)[bo, bw, units]
    hatch_best = np.clip(m["hatches"], 0, None).max(axis=0)
    return {
        _feature("grating_orientation", "orientation of the best grating, degrees over 180"): o[bo],
        _feature("grating_wavelength", "wavelength of the best grating, px"): w[bw],
        _feature("grating_selectivity", "1 - min/max over grating orientations at the best wavelength"): _selectivity(by_orientation),
        _feature("frequency_selectivity", "1 - min/max over wavelengths at the best orientation"): _selectivity(by_wavelength),
        _feature("phase_modulation", "(max - min)/max over the best grating's phases: near 1 simple, near 0 complex"): modulation,
        _feature("phase_mean", "mean over phases of the best grating over its best phase"): _ratio(mean_phase, top),
        _feature("hatch", "best cross-hatching over best single grating"): _ratio(hatch_best, over_phase.max(axis=(0, 1))),
        _feature("ramp_selectivity", "1 - min/max over gradient directions"): _selectivity(m["ramps"]),
    }


def _colour(m: LayerResponses, _) -> dict[str, np.ndarray]:
    g = m.grid("fields")
    r = np.clip(m["fields"], 0, None)
    hue_rows, grey_rows = np.where(g["hue"] >= 0)[0], np.where(g["grey_of"] >= 0)[0]
    hues, greys = r[hue_rows], r[grey_rows]
    best = hues.argmax(axis=0)
    units = np.arange(r.shape[1])
    others = (hues.sum(axis=0) - hues[best, units]) / (len(hue_rows) - 1)
    achromatic = r[np.where(g["hue"] < 0)[0]].max(axis=0)  # black, white, grey and the luminance greys
    # centre-surround: the best disc-in-ring over the better of its two inks as a whole field
    cs = np.clip(m["centre_surround"], 0, None)
    cg = m.grid("centre_surround")
    ink_rows = [np.where((g["r"] == c[0]) & (g["g"] == c[1]) & (g["b"] == c[2]))[0][0] for c in INKS.values()]
    ink_fields = r[ink_rows]  # (inks, units)
    k = cs.argmax(axis=0)
    first, second = cg["first"][k].astype(int), cg["second"][k].astype(int)
    alone = np.maximum(ink_fields[first, units], ink_fields[second, units])
    chromatic_cs = (first >= 2) | (second >= 2)  # INKS: white, black, then hues
    # colour contrast: the best hue pair across a boundary over the same hues as fields and over grey edges
    cc = np.clip(m["colour_contrast"], 0, None)
    ccg = m.grid("colour_contrast")
    j = cc.argmax(axis=0)
    cc_best = cc[j, units]
    swapped = np.array([_swapped_row(ccg, row) for row in j])
    hue_fields = hues
    fields_of_pair = np.maximum(hue_fields[ccg["first"][j].astype(int), units], hue_fields[ccg["second"][j].astype(int), units])
    edges_best = np.clip(m["edges"], 0, None).max(axis=0)
    hl = np.clip(m["high_low"], 0, None)
    hl_angles = m.grid("high_low")["orientation"]
    hl_best = hl.argmax(axis=0)
    hl_opposite = hl[(hl_best + len(hl_angles) // 2) % len(hl_angles), units]
    fine = np.clip(m["gratings"], 0, None)[m.grid("gratings")["wavelength"] == 3.0].max(axis=0)
    flat = r[np.where((g["r"] == 0.5) & (g["g"] == 0.5) & (g["b"] == 0.5))[0][0]]
    return {
        _feature("hue", "index of the best hue field (0 red, 1 yellow, 2 green, 3 cyan, 4 blue, 5 magenta)"): best.astype(float),
        _feature("hue_lead", "best hue field over the mean of the other five"): _ratio(hues[best, units], others),
        _feature("colour_grey", "best hue field over the grey of its luminance"): _ratio(hues[best, units], greys[best, units]),
        _feature("grey_colour", "mean answer to the luminance greys over the mean answer to the hues"):
            _ratio(greys.mean(axis=0), hues.mean(axis=0)),
        _feature("field_over_achromatic", "best hue field over the best black, white or grey field"): _ratio(hues.max(axis=0), achromatic),
        _feature("centre_surround", "best disc-in-ring over the better of its two inks as whole fields and over the best "
                                    "line, edge, arc or grating"): _ratio(cs.max(axis=0), np.maximum(alone, _best_oriented(m))),
        _feature("centre_surround_chromatic", "1 where the best disc-in-ring uses a hue"): chromatic_cs.astype(float),
        _feature("colour_contrast", "best two-hue boundary over the better of the two hues as fields, and over grey edges"):
            _ratio(cc_best, np.maximum(fields_of_pair, edges_best)),
        _feature("colour_contrast_side", "best two-hue boundary over the same hues swapped side for side"):
            _ratio(cc_best, cc[swapped, units]),
        _feature("high_low", "fine grating beside flat grey over full-field fine gratings and over flat grey"):
            _ratio(hl.max(axis=0), np.maximum(fine, flat)),
        _feature("high_low_side", "fine-on-flat boundary over the same boundary turned 180 degrees"): _ratio(hl.max(axis=0), hl_opposite),
    }


def _best_oriented(m: LayerResponses) -> np.ndarray:
    return np.max([np.clip(m[k], 0, None).max(axis=0) for k in ("lines", "edges", "arcs", "gratings")], axis=0)


def _swapped_row(grid, row: int) -> int:
    """The colour-contrast stimulus with the same two hues on the other sides."""
    match = np.where((grid["first"] == grid["second"][row]) & (grid["second"] == grid["first"][row])
                     & (grid["orientation"] == grid["orientation"][row]))[0]
    return int(match[0])


def _shapes(m: LayerResponses, _) -> dict[str, np.ndarray]:
    lines_arcs = np.maximum(np.clip(m["lines"], 0, None).max(axis=0), np.clip(m["arcs"], 0, None).max(axis=0))
    return {
        _feature("angle", "best angle (two strokes from the centre) over the best line or arc"):
            _ratio(np.clip(m["angles"], 0, None).max(axis=0), lines_arcs),
        _feature("cross", "best cross over the best line"):
            _ratio(np.clip(m["crosses"], 0, None).max(axis=0), np.clip(m["lines"], 0, None).max(axis=0)),
        _feature("ring", "best small circle over the best arc and the best disc-in-ring"):
            _ratio(np.clip(m["rings"], 0, None).max(axis=0),
                   np.maximum(np.clip(m["arcs"], 0, None).max(axis=0), np.clip(m["centre_surround"], 0, None).max(axis=0))),
    }


_COMPUTERS: tuple[Callable[[LayerResponses, dict], dict[str, np.ndarray]], ...] = (_peaks, _orientation, _gratings, _colour, _shapes)
HUE_NAMES = tuple(HUES)
