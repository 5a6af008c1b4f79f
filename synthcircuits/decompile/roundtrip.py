"""The round trip: compile the draft and set each rebuilt unit beside the trained one (expanded
weights, tuning under the kind's sweep, preferred orientation or hue; with a report folder,
feature visualisations)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from ..compile import compile_spec
from ..models.expanded import expanded_layer_weights

from ..probe.tuning import ProbeUnit, TuningCurve, angle_difference
from ..language import Spec
from ..tables import format_table
from ..pages import write_page
from . import Decompilation


@dataclass
class UnitTrip:
    unit: str
    weight_r: float  # trained vs rebuilt expanded weights on the whole input layer
    tuning_r: float  # tuning under the kind's sweep, trained vs rebuilt
    preferred_trained: float
    preferred_rebuilt: float
    preferred_difference: float
    peak_trained: float
    peak_rebuilt: float


@dataclass
class RoundTrip:
    units: list[UnitTrip]
    curves: dict[str, tuple[TuningCurve, TuningCurve]]  # unit -> (trained, rebuilt)
    rebuilt: nn.Module

    def table(self) -> str:
        return format_table(["unit", "weight r", "tuning r", "preferred trained", "rebuilt", "difference", "peak trained", "rebuilt"],
                            [[u.unit, u.weight_r, u.tuning_r, u.preferred_trained, u.preferred_rebuilt, u.preferred_difference,
                              u.peak_trained, u.peak_rebuilt] for u in self.units])

    def as_json(self) -> list[dict]:
        return [asdict(u) for u in self.units]


def round_trip(result: Decompilation, model: nn.Module, spec: Spec) -> RoundTrip:
    """The draft compiled, each target set beside its trained self under the kind's own sweep."""
    rebuilt = compile_spec(spec).model().eval()
    arch = model.architecture
    targets = [u.address for u in result.targets.units]
    layer = targets[0].layer
    trained_w = expanded_layer_weights(model.state_dict(), arch, layer)
    rebuilt_w = expanded_layer_weights(rebuilt.state_dict(), arch, layer)
    probes = [ProbeUnit(str(t), t.layer, t.channel) for t in targets]
    before, after = result.kind.tuning(model, probes), result.kind.tuning(rebuilt, probes)
    rows, curves = [], {}
    for t, a, b in zip(targets, before, after):
        w0, w1 = trained_w[t.channel].flatten().double().numpy(), rebuilt_w[t.channel].flatten().double().numpy()
        pa, pb = a.preferred(), b.preferred()
        rows.append(UnitTrip(str(t), _r(w0, w1), _r(a.responses, b.responses), pa, pb,
                             angle_difference(pa, pb) if np.isfinite(pa) and np.isfinite(pb) else float("nan"), a.peak, b.peak))
        curves[str(t)] = (a, b)
    return RoundTrip(rows, curves, rebuilt)


def calibrated(result: Decompilation, trip: RoundTrip) -> Decompilation:
    """The decompilation with each unit's designed orientation moved by how far its rebuilt
    unit peaked from the trained one (a rule read from an uneven input family pulls the peak
    off its design; one correction cancels most of it)."""
    units = []
    for unit, row in zip(result.targets.units, trip.units):
        shift = (row.preferred_trained - row.preferred_rebuilt + 180.0) % 360.0 - 180.0 if np.isfinite(row.preferred_difference) else 0.0
        units.append(replace(unit, orientation=(unit.orientation + shift) % 360.0))
    return replace(result, targets=replace(result.targets, units=tuple(units)))


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


def write_report(trip: RoundTrip, result: Decompilation, model: nn.Module, folder: Path, vis_steps: int = 128) -> Path:
    """index.html: the fitted profiles, then per unit its tuning (trained and rebuilt) and both
    feature visualisations side by side."""
    from ..viz import Neuron, Request, Settings, plot_tuning, save_grid, visualise_many
    from ..viz.tuning_plot import plot_profiles

    assets = folder / "assets"
    # Profiles over orientation (or hue) difference; a single input unit's part is one gain, listed above instead.
    shown = [(f"{r.source.label} -> units ({p.words}, r {r.r:.2f})", [a for a, _ in p.table], p.profile)
             for r in result.rules for p in r.parts if len(p.table) > 1]
    profiles = f"assets/{plot_profiles(shown, assets / 'profiles.png').name}" if shown else None
    units = [u.address for u in result.targets.units]
    pictures: dict[str, list] = {}
    if vis_steps:
        settings = Settings(steps=vis_steps, size=96, canvas="receptive")
        for name, net in (("trained", model), ("rebuilt", trip.rebuilt)):
            drawn = visualise_many(net, [Request(Neuron(u.layer, u.channel)) for u in units], settings)
            pictures[name] = [p.final[0] for p in drawn]
    rows = []
    for k, (unit, trip_row) in enumerate(zip(units, trip.units)):
        a, b = trip.curves[str(unit)]
        tuning = plot_tuning([(str(unit), [("trained", a), ("rebuilt", b)])], assets / f"tuning_{unit.channel}.png", normalise=False)
        vis = save_grid([[pictures["trained"][k], pictures["rebuilt"][k]]], assets / f"vis_{unit.channel}.png") if pictures else None
        rows.append({"unit": str(unit), "weight_r": trip_row.weight_r, "tuning_r": trip_row.tuning_r,
                     "difference": trip_row.preferred_difference, "tuning": f"assets/{tuning.name}",
                     "vis": f"assets/{vis.name}" if vis is not None else None})
    rules = [f"{r.source.label} ({r.source.members}): {r.pattern}{_gains(r)}, r {r.r:.3f}, explained variance {r.explained:.1%}, "
             f"{r.energy:.1%} of the weight energy" for r in result.rules]
    return write_page(folder / "index.html", "roundtrip.html", title=f"decompiled {units[0].layer}", count=len(units),
                      layer=units[0].layer, input_layer=result.input_layer, rules=rules, profiles=profiles, rows=rows)


def _gains(rule) -> str:
    """A single input unit's parts are gains: say them."""
    single = [p for p in rule.parts if len(p.table) == 1]
    return f" (gains {', '.join(f'{p.table[0][1]:.3g}' for p in single)})" if single else ""


__all__: Sequence[str] = ["RoundTrip", "UnitTrip", "calibrated", "round_trip", "write_report"]
