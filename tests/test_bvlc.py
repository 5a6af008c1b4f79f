"""BVLC GoogLeNet: converter and architecture on generated files; the trained network's
behaviour on the real weights, where the shared folder exists."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synthcircuits.layout import INCEPTIONV1
from synthcircuits.cli import main
from synthcircuits.errors import WeightsError
from synthcircuits.models import build_model, capture, load_model
from synthcircuits.layout import INCEPTIONV1, parse_units
from synthcircuits.models.caffe import read_caffe_bin, write_caffe_bin
from synthcircuits.layout.architectures import GOOGLENET_BLOCKS
from synthcircuits.probe.compare import compare_models
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep, curve_line_selectivity, radial_tuning
from synthcircuits.commands.common import open_model
from synthcircuits.viz.featurevis import visualise
from synthcircuits.viz.objectives import Neuron

ROOT = Path(__file__).parent.parent
CURVES = "3b:342,3b:388,3b:324,3b:340,3b:330,3b:349,3b:379,3b:406,3b:385,3b:343"


def caffe_reference_forward(state, x):
    """BVLC GoogLeNet as deploy.prototxt describes it, on raw tensors (an independent oracle)."""

    def conv(name, h, pad=0, stride=1):
        return F.relu(F.conv2d(h, state[f"{name}_pre_relu_conv.weight"], state[f"{name}_pre_relu_conv.bias"], stride=stride, padding=pad))

    def pool(h):
        return F.max_pool2d(h, 3, 2, ceil_mode=True)

    def lrn(h):
        return F.local_response_norm(h, size=5, alpha=1e-4, beta=0.75, k=1.0)

    bgr = x[:, [2, 1, 0]] * 255 - torch.tensor([104.0, 117.0, 123.0]).view(1, 3, 1, 1)
    h = lrn(pool(conv("conv1", bgr, pad=3, stride=2)))
    h = pool(lrn(conv("conv2", conv("conv2_reduce", h), pad=1)))
    for short in GOOGLENET_BLOCKS:
        if short in ("4a", "5a"):
            h = pool(h)
        n = f"inception_{short}"
        h = torch.cat([
            conv(f"{n}_1x1", h),
            conv(f"{n}_3x3", conv(f"{n}_3x3_bottleneck", h), pad=1),
            conv(f"{n}_5x5", conv(f"{n}_5x5_bottleneck", h), pad=2),
            conv(f"{n}_pool_reduce", F.max_pool2d(h, 3, 1, padding=1)),
        ], 1)
    h = F.avg_pool2d(h, 7).flatten(1)
    return F.linear(h, state["classifier.weight"], state["classifier.bias"])


def test_bvlc_forward_matches_the_prototxt_reference():
    model = build_model("bvlc_googlenet", seed=5)
    x = torch.rand(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model(x), caffe_reference_forward(model.state_dict(), x), rtol=1e-4, atol=1e-4)


def test_caffe_files_convert_back_bit_identically_and_bad_folders_are_named(tmp_path):
    state = build_model("bvlc_googlenet", seed=6).state_dict()
    folder = write_caffe_bin(state, tmp_path / "caffe")
    out = tmp_path / "bvlc.safetensors"
    assert main(["weights", "convert", str(folder), "--from", "caffe-bin", "-o", str(out)]) == 0
    loaded = load_model(out).state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    (folder / "inception_4c" / "5x5_filter.bin").unlink()
    np.zeros(7, dtype="<f4").tofile(folder / "loss3" / "classifier_bias.bin")
    with pytest.raises(WeightsError) as info:
        read_caffe_bin(folder)
    assert "missing     inception_4c/5x5_filter.bin" in str(info.value) and "mis-sized   loss3/classifier_bias.bin: 7 values" in str(info.value)


# -- the real trained network (runs where shared/data/bvlc_googlenet exists) ---------------


def test_real_bvlc_classifies_generated_images_of_a_class_as_that_class(bvlc_weights):
    model = load_model(bvlc_weights)
    from synthcircuits.labels import label_of

    for cls in (1, 130):  # goldfish, flamingo
        image = visualise(model, Neuron("classifier", cls), steps=40, size=128, seed=1, progress=False)[40]
        with torch.no_grad():
            top5 = torch.softmax(model(image), 1)[0].topk(5).indices.tolist()
        assert cls in top5, (label_of(cls, "bvlc_googlenet"), [label_of(i, "bvlc_googlenet") for i in top5])


def test_compiled_curves_find_real_curve_detectors_in_inception_3b(bvlc_weights):
    circuit, real = open_model(ROOT / "specs" / "curve_circuit.yaml"), open_model(bvlc_weights)
    results = compare_models(circuit, real, parse_units(CURVES, INCEPTIONV1), RadialSweep(step=5))
    assert all(r.best_match.startswith("inception_3b:") for r in results)
    assert np.median([r.best_correlation for r in results]) > 0.85
    matches = [int(r.best_match.split(":")[1]) for r in results]
    probes = [ProbeUnit(f"inception_3b:{c}", "inception_3b", c) for c in matches]
    curves = radial_tuning(real.model, probes, RadialSweep())
    ratios = curve_line_selectivity(real.model, probes, [c.preferred() for c in curves], RadialSweep())
    curve_like = [c.echo() <= 0.05 and r >= 2 for c, r in zip(curves, ratios)]
    assert sum(curve_like) >= 8, list(zip(matches, [c.echo() for c in curves], ratios))


def test_real_curve_detectors_visualise_into_strong_structured_images(bvlc_weights):
    model = load_model(bvlc_weights)
    snapshots = visualise(model, Neuron("inception_3b", 408), steps=48, size=96, thresholds=(0,), progress=False)
    with torch.no_grad():
        start = capture(model, snapshots[0], ["inception_3b"])["inception_3b"][0, 408, 6, 6]
        end = capture(model, snapshots[48], ["inception_3b"])["inception_3b"][0, 408, 6, 6]
    assert end > 5 * max(float(start), 1.0) and snapshots[48].std() > 0.05


def test_edits_have_real_effects_on_the_trained_network(bvlc_weights, tmp_path):
    from PIL import Image

    model = load_model(bvlc_weights)
    folder = tmp_path / "generated"
    for cls, name in ((1, "goldfish"), (130, "flamingo"), (948, "Granny_Smith")):
        (folder / name).mkdir(parents=True)
        for seed in (0, 1):
            image = visualise(model, Neuron("classifier", cls), steps=24, size=128, seed=seed, progress=False)[24][0]
            Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(folder / name / f"{seed}.png")
    edit = tmp_path / "edit.yaml"
    edit.write_text("synthcircuits_edit: 1\nname: drop-4e\narchitecture: bvlc_googlenet\nedits:\n"
                    "  - ablate: {units: [" + ", ".join(f"inception_4e:{c}" for c in range(0, 832, 2)) + "]}\n")
    out = tmp_path / "edited.safetensors"
    assert main(["edit", str(edit), "--weights", str(bvlc_weights), "--images", str(folder), "-o", str(out)]) == 0
    report = json.loads(out.with_suffix(".effect.json").read_text())
    assert report["accuracy"]["top5_before"] >= 0.8  # the unedited network recognises its own class images
    assert report["flipped"] > 0  # half of inception_4e removed: some predictions change...
    assert max(abs(c["mean_change"]) for c in report["class_changes"]) > 0.05  # ...and class probabilities move


def test_census_of_the_real_early_layers_sets_its_shares_beside_the_articles(bvlc_weights, tmp_path):
    out = tmp_path / "census"
    assert main(["census", "conv2,inception_3a,inception_3b", "--weights", str(bvlc_weights), "-o", str(out)]) == 0
    layers = {layer["layer"]: layer for layer in json.loads((out / "census.json").read_text())["layers"]}
    assert layers["conv2"]["counterpart"] == "conv2d2" and layers["inception_3a"]["counterpart"] == "mixed3a"
    counts = {name: {r["family"]: r["count"] for r in layer["shares"] if r["family"]} for name, layer in layers.items()}
    # measured on these weights: conv2 17 lines + 32 shifted lines (the articles: 17% + 8% of conv2d2), 19 colour contrast
    assert counts["conv2"]["line"] + counts["conv2"]["shifted_line"] >= 25 and counts["conv2"]["colour_contrast"] >= 10
    # measured: 32 curves in inception_3b; `find`'s tuned curve sweep names 38, 28 of them census curves or early curves
    assert counts["inception_3b"]["curve"] >= 25
    assert main(["find", "inception_3b", "--weights", str(bvlc_weights), "-o", str(tmp_path / "find")]) == 0
    found = {u["channel"] for u in json.loads((tmp_path / "find" / "find.json").read_text())["units"] if u["member"]}
    families = {u["channel"]: u["family"] for u in layers["inception_3b"]["units"]}
    assert sum(families[c] in ("curve", "early_curve") for c in found) >= 0.6 * len(found)


def test_trained_inception_4a_has_left_right_mirror_pairs(bvlc_weights, tmp_path):
    """The articles' claim that left/right pairs exist, on the real network: over stimuli made here,
    trained inception_4a pairs units that answer each other's flipped inputs far better than their own."""
    out = tmp_path / "mirrors"
    assert main(["mirrors", "inception_4a", "--weights", str(bvlc_weights), "-o", str(out)]) == 0
    layer = json.loads((out / "mirrors.json").read_text())["layers"][0]
    # measured on these weights: 42 units in 21 pairs, the strongest 4a:216 <-> 4a:378 at r = 0.99 (self r -0.09)
    assert layer["counts"]["pair"] >= 30
    strongest = layer["pairs"][0]
    assert strongest[2] > 0.95
    units = {u["unit"]: u for u in layer["units"]}
    assert units[strongest[0]]["self_correlation"] < 0.5


def test_trained_early_layers_hold_high_low_frequency_and_boundary_units(bvlc_weights, tmp_path):
    """`find` with the early-vision families on the real network: measured 8 high-low units in
    inception_3a (6 in the 3x3 branch) and 5 boundary units in inception_3b (3 in the 5x5 branch)."""
    assert main(["find", "inception_3a", "--weights", str(bvlc_weights), "--family", "high-low", "-o", str(tmp_path / "hl")]) == 0
    members = json.loads((tmp_path / "hl" / "find.json").read_text())["members"]
    assert len(members) >= 5 and sum(u["branch"] == "3x3" for u in members) >= len(members) / 2
    assert main(["find", "inception_3b", "--weights", str(bvlc_weights), "--family", "boundary", "-o", str(tmp_path / "b")]) == 0
    found = [u for u in json.loads((tmp_path / "b" / "find.json").read_text())["units"] if u["member"]]
    assert len(found) >= 3 and any(u["branch"] == "5x5" for u in found)


# -- the articles' splice on the real network (issue 32) ------------------------------------

SPLICE = ROOT / "specs" / "splices" / "bvlc_curves_3b.yaml"
PHOTOS = ROOT.parent / "shared" / "data" / "imagenet_sample"


def test_the_decompiled_curves_spliced_into_bvlc_change_their_units_and_nothing_else(bvlc_weights, tmp_path):
    from synthcircuits.compile import compile_spec
    from synthcircuits.edit import apply_edits, edited_model, parse_edit
    from synthcircuits.language import load_spec

    trained = load_model(bvlc_weights)
    edit = parse_edit(f"synthcircuits_edit: 1\nname: s\narchitecture: bvlc_googlenet\nedits:\n  - splice: {{spec: {SPLICE}}}\n",
                      str(tmp_path / "e.yaml"))
    spliced = edited_model(apply_edits(trained.state_dict(), edit))
    rebuilt = compile_spec(load_spec(SPLICE), "inceptionv1", base=trained.state_dict()).model()
    images = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    points = ["inception_3a", "inception_3b", "inception_3b_5x5_bottleneck"]
    ours, theirs, circuit = (capture(m, images, points) for m in (spliced, trained, rebuilt))
    units = [324, 326, 335, 358, 361, 368, 386, 394, 408, 413]
    others = [c for c in range(480) if c not in units]
    assert torch.equal(ours["inception_3a"], theirs["inception_3a"])
    assert torch.equal(ours["inception_3b_5x5_bottleneck"], theirs["inception_3b_5x5_bottleneck"])  # the draft's own runs beside
    assert torch.equal(ours["inception_3b"][:, others], theirs["inception_3b"][:, others])
    torch.testing.assert_close(ours["inception_3b"][:, units], circuit["inception_3b"][:, units], rtol=1e-5, atol=1e-4)
    assert not torch.allclose(ours["inception_3b"][:, units], theirs["inception_3b"][:, units])


@pytest.mark.skipif(not (PHOTOS / "images").is_dir(), reason="the shared ImageNet sample is not on this machine (CI has it)")
def test_faithfulness_of_the_decompiled_curves_on_real_photos(bvlc_weights, tmp_path):
    out = tmp_path / "f"
    assert main(["faithfulness", str(SPLICE), "--weights", str(bvlc_weights), "--images", str(PHOTOS / "images"), "--class-map",
                 str(PHOTOS / "wnids.txt"), "--limit", "48", "--no-per-unit", "-o", str(out), "--workers", "0"]) == 0
    record = json.loads((out / "faithfulness.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    # The first 48 photos, as an independent script with run-time hooks counts them (tests/test_faithfulness.py checks the method).
    assert record["top1_changes"] == {"trained": 0, "zero": 6, "mean": 5, "circuit": 2}
    assert record["measures"]["zero"]["kl"]["value"] == pytest.approx(0.07784, abs=5e-5)
    assert record["measures"]["mean"]["kl"]["value"] == pytest.approx(0.06076, abs=5e-5)
    assert record["measures"]["circuit"]["kl"]["value"] == pytest.approx(0.01954, abs=5e-5)
