"""Findings on a real trained network: Caffe's BVLC GoogLeNet (shared/data/bvlc_googlenet).

Run: .venv/bin/python benchmarks/bvlc_findings.py [WEIGHTS_FOLDER]
Prints: how the compiled curve circuit's units match inception_3b units; how curve-like
inception_3b is and in which branches; whether the network classifies generated images of
a class as that class; and what removing its best-matching curve detectors does.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from timing import median_seconds  # noqa: E402

from synthcircuits.layout import INCEPTIONV1
from synthcircuits.edit import apply_edits, edited_model, parse_edit  # noqa: E402
from synthcircuits.labels import label_of  # noqa: E402
from synthcircuits.models import capture, save_safetensors  # noqa: E402
from synthcircuits.layout import parse_units  # noqa: E402
from synthcircuits.models.caffe import read_caffe_bin  # noqa: E402

from synthcircuits.probe.compare import compare_models  # noqa: E402
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep, curve_line_selectivity, radial_tuning  # noqa: E402
from synthcircuits.probe.unit_forward import unit_activations  # noqa: E402
from synthcircuits.commands.common import open_model  # noqa: E402
from synthcircuits.tables import format_table  # noqa: E402
from synthcircuits.viz.featurevis import visualise
from synthcircuits.viz.objectives import Neuron  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT.parent / "shared" / "data" / "bvlc_googlenet" / "weights"
CURVES = "3b:342,3b:388,3b:324,3b:340,3b:330,3b:349,3b:379,3b:406,3b:385,3b:343"
CLASSES = (1, 130, 817, 948, 207, 340, 409, 954)  # goldfish, flamingo, sports car, Granny Smith, golden retriever, zebra, analog clock, banana


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not (folder / "conv1").is_dir():
        print(f"no BVLC GoogLeNet weights at {folder}; pass the folder holding conv1/, inception_3a/, ..., loss3/")
        return
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_safetensors(read_caffe_bin(folder), Path(tmp) / "bvlc.safetensors", {"synthcircuits.architecture": "bvlc_googlenet"})
        real, circuit = open_model(weights), open_model(ROOT / "specs" / "curve_circuit.yaml")
    model = real.model
    sweep = RadialSweep(step=5)

    results = compare_models(circuit, real, parse_units(CURVES, INCEPTIONV1), sweep)
    matches = [int(r.best_match.split(":")[1]) for r in results]
    probes = [ProbeUnit(f"inception_3b:{c}", "inception_3b", c) for c in matches]
    curves = radial_tuning(model, probes, RadialSweep())
    ratios = curve_line_selectivity(model, probes, [c.preferred() for c in curves], RadialSweep())
    print("compiled curve units vs BVLC inception_3b (radial tuning, radius 32 px arcs)")
    print(format_table(["compiled unit", "designed", "best match", "r", "its preferred", "width", "echo", "curve/line", "branch"],
                       [[r.unit, r.curve_a.preferred(), r.best_match, r.best_correlation, c.preferred(), c.width(), c.echo(), q, _branch(m)]
                        for r, c, q, m in zip(results, curves, ratios, matches)]))

    everyone = [ProbeUnit(f"inception_3b:{c}", "inception_3b", c) for c in range(480)]
    all_curves = radial_tuning(model, everyone, sweep)
    strongest = np.argsort([-c.peak for c in all_curves])[:60]
    sel = curve_line_selectivity(model, [everyone[i] for i in strongest], [all_curves[i].preferred() for i in strongest], RadialSweep())
    curve_like = [int(i) for i, s in zip(strongest, sel) if s >= 2 and all_curves[i].echo() <= 0.2]
    branches = {b: sum(_branch(i) == b for i in curve_like) for b in ("1x1", "3x3", "5x5", "pool")}
    print(f"\n{len(curve_like)} of the 60 units answering most to curves are curve-like (curve/line >= 2, echo <= 0.2); by branch: "
          + ", ".join(f"{b} {n}" for b, n in branches.items()) + " (the 5x5 branch holds 96 of 480 channels)")

    rows, correct1, correct5 = [], 0, 0
    for cls in CLASSES:
        image = visualise(model, Neuron("classifier", cls), steps=48, size=160, seed=0, progress=False)[48]
        top5 = torch.softmax(model(image), 1)[0].topk(5).indices.tolist()
        correct1 += top5[0] == cls
        correct5 += cls in top5
        rows.append([label_of(cls, "bvlc_googlenet"), label_of(top5[0], "bvlc_googlenet"), cls in top5])
    print(f"\nclass visualisations (48 steps, 160 px) classified by the network: top-1 {correct1}/{len(CLASSES)}, top-5 {correct5}/{len(CLASSES)}")
    print(format_table(["generated for", "classified as", "in top-5"], rows))

    images = torch.stack([visualise(model, Neuron("classifier", c), steps=48, size=160, seed=1, progress=False)[48][0] for c in CLASSES])
    edit = parse_edit("synthcircuits_edit: 1\nname: bvlc-curves-removed\narchitecture: bvlc_googlenet\nedits:\n"
                      f"  - ablate: {{units: [{', '.join(f'inception_3b:{c}' for c in sorted(set(matches)))}]}}\n")
    edited = edited_model(apply_edits(model.state_dict(), edit))
    p0, p1 = torch.softmax(model(images), 1), torch.softmax(edited(images), 1)
    own0, own1 = p0[range(len(CLASSES)), list(CLASSES)], p1[range(len(CLASSES)), list(CLASSES)]
    curve_response = lambda m: capture(m, images, ["inception_3b"])["inception_3b"][:, matches].mean()  # noqa: E731
    print(f"\nremoving the {len(set(matches))} matched curve detectors: mean p(own class) {own0.mean():.3f} -> {own1.mean():.3f}, "
          f"top-1 changed on {(p0.argmax(1) != p1.argmax(1)).sum()}/{len(CLASSES)} images; their mean activation {curve_response(model):.2f} -> {curve_response(edited):.2f}")

    battery = RadialSweep().render("inception_3b", model.geometry())(torch.arange(100, dtype=torch.float32) * 3.6)
    full = median_seconds(lambda: capture(model, battery, ["inception_3b"]), 3)
    unit = median_seconds(lambda: unit_activations(model, battery, "inception_3b", matches, 13), 3)
    print(f"\n100 arcs through the 10 matched units: truncated capture {full * 1000:.0f} ms, unit-level {unit * 1000:.0f} ms ({full / unit:.1f}x)")


def _branch(channel: int) -> str:
    return "1x1" if channel < 128 else "3x3" if channel < 320 else "5x5" if channel < 416 else "pool"


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"\n({time.time() - start:.0f} s)")
