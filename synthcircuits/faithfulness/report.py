"""A faithfulness measurement's result: the table a researcher quotes, its JSON and its page."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..tables import format_table
from .measures import MEASURES, WORDS, Estimate

VARIANT_WORDS = {"trained": "trained", "zero": "units silenced", "mean": "units mean-ablated", "circuit": "circuit spliced in"}
AGAINST = {"zero": "against silencing", "mean": "against mean ablation"}


@dataclass
class UnitFigures:
    unit: str
    mean_value: float  # its mean activation over the images
    changes: dict[str, int]  # "mean" / "circuit" alone: images whose top-1 changes
    measures: dict[str, dict[str, Estimate]]  # "mean" / "circuit" alone -> measure -> estimate
    recovered: dict[str, Estimate]  # against its own mean ablation


@dataclass
class FaithfulnessReport:
    circuit: str
    weights: str
    layer: str
    units: list[str]
    side_path: str  # where the circuit's values come from, in words
    readout: str  # the layer whose correlation with the trained network is measured
    images: int
    labelled: bool
    changes: dict[str, int]  # variant -> images whose top-1 differs from the trained network's
    measures: dict[str, dict[str, Estimate]]
    recovered: dict[str, dict[str, Estimate]]  # "zero" / "mean" -> measure -> estimate
    per_unit: list[UnitFigures] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def recovered_value(self, measure: str = "top1_agreement", against: str = "mean") -> float | None:
        return self.recovered[against][measure].value

    def _measures(self) -> list[str]:
        return [m for m in MEASURES if any(m in by for by in self.measures.values())]

    def tables(self) -> str:
        measures = self._measures()
        rows = []
        for name in ("trained", "zero", "mean", "circuit"):
            if name not in self.measures:
                continue
            got = self.measures[name]
            rows.append([VARIANT_WORDS[name], self.changes.get(name, 0),
                         *[("1" if m in ("top1_agreement", "readout_r") else "0") if name == "trained" and m not in got
                           else got[m].text(4 if m == "kl" else 3) if m in got else "" for m in measures]])
        header = ["network", "top-1 changes", *[WORDS[m].replace("readout", self.readout) for m in measures]]
        text = [f"{len(self.units)} units of {self.layer} replaced by {self.circuit} in {self.weights}, over {self.images} images"
                + (f" ({len(self.skipped)} could not be read)" if self.skipped else "") + ":",
                f"side path: {self.side_path}", "", format_table(header, rows), "",
                "recovered = 1 - gap(spliced) / gap(ablated), 95% paired bootstrap intervals:", ""]
        text.append(format_table(["measure", *[AGAINST[a] for a in ("zero", "mean")]],
                                 [[WORDS[m].replace("readout", self.readout), *[self.recovered[a][m].text(2, True) for a in ("zero", "mean")]]
                                  for m in measures if m in self.recovered["mean"]]))
        if self.per_unit:
            text += ["", "each unit alone (the others trained): mean-ablated, and spliced from the circuit:", ""]
            text.append(format_table(
                ["unit", "mean", "top-1 changes mean / spliced", "KL mean-ablated", "KL spliced", "recovered (KL)", "recovered (top-1)"],
                [[u.unit, f"{u.mean_value:.4g}", f"{u.changes['mean']} / {u.changes['circuit']}", u.measures["mean"]["kl"].text(5),
                  u.measures["circuit"]["kl"].text(5), u.recovered["kl"].text(2, True), u.recovered["top1_agreement"].text(2, True)]
                 for u in self.per_unit]))
        return "\n".join(text)

    def as_json(self) -> dict:
        return {
            "circuit": self.circuit, "weights": self.weights, "layer": self.layer, "units": self.units, "side_path": self.side_path,
            "readout": self.readout, "images": self.images, "labelled": self.labelled, "top1_changes": self.changes,
            "measures": {v: {m: e.as_json() for m, e in by.items()} for v, by in self.measures.items()},
            "recovered": {AGAINST[a].replace(" ", "_"): {m: e.as_json() for m, e in by.items()}
                          for a, by in self.recovered.items()},
            "per_unit": [{"unit": u.unit, "mean_activation": u.mean_value, "top1_changes": u.changes,
                          "measures": {v: {m: e.as_json() for m, e in by.items()} for v, by in u.measures.items()},
                          "recovered_against_mean_ablation": {m: e.as_json() for m, e in u.recovered.items()}} for u in self.per_unit],
            "skipped": [{"image": name, "reason": reason} for name, reason in self.skipped],
        }
