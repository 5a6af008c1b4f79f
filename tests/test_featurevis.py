"""Batched feature visualisation, receptive-field canvases and cones, the objective algebra,
and thread counts that follow the free cores."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from synthcircuits.cli import main
from synthcircuits.commands.common import open_model
from synthcircuits.models.bvlc_googlenet import BVLCGoogLeNet
from synthcircuits.models.capture import capture
from synthcircuits.models.inceptionv1 import InceptionV1
from synthcircuits.models.torchvision_googlenet import TorchvisionGoogLeNet
from synthcircuits.threads import CpuSample, ThreadTuner, set_threads, usable_cores
from synthcircuits.viz.canvas import plan_canvas, receptive_window
from synthcircuits.viz.featurevis import Request, Settings, Transform, View, centre_window, robustness, score, visualise_many
from synthcircuits.viz.objective_text import ObjectiveSyntaxError, parse_objective
from synthcircuits.viz.objectives import Activations, Caricature, Channel, Diversity, Interpolate, Neuron, Sum

ROOT = Path(__file__).parent.parent
SPEC = ROOT / "specs" / "curve_circuit.yaml"
MIXED3A_CURVES = (92, 163)  # early curves the curve spec writes into mixed3a, at 11 and 87 degrees


@pytest.fixture(scope="module")
def curves():
    return open_model(SPEC)


def random_network(cls):
    torch.manual_seed(0)
    model = cls()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    return model.eval()


# -- batching -------------------------------------------------------------------------------


def test_each_image_draws_its_own_transforms_from_its_own_seed():
    images = torch.rand(3, 3, 40, 40)
    together = robustness(images, [torch.Generator().manual_seed(s) for s in (5, 6, 7)])
    for i, seed in enumerate((5, 6, 7)):
        alone = robustness(images[i : i + 1], [torch.Generator().manual_seed(seed)])
        assert torch.allclose(together[i], alone[0], atol=1e-6)
    draws = {Transform.draw(torch.Generator().manual_seed(s)) for s in range(20)}
    assert len(draws) > 10  # the seeds give different transforms


def test_batched_and_single_runs_agree_step_by_step_and_at_the_end(curves):
    units = [Neuron("mixed3a", c) for c in MIXED3A_CURVES] + [Neuron("conv2d2", 20)]
    settings = Settings(steps=48, size=64, thresholds=(1, 2, 4))
    together = visualise_many(curves.model, [Request(u) for u in units], settings, progress=False)
    for unit, batched in zip(units, together):
        (alone,) = visualise_many(curves.model, [Request(unit)], settings, progress=False)
        for step in (1, 2, 4):
            assert torch.allclose(batched.snapshots[step], alone.snapshots[step], atol=1e-3), step
        a = float(score(curves.model, unit, alone.final, alone.canvas)[0])
        b = float(score(curves.model, unit, batched.final, batched.canvas)[0])
        assert a > 0 and abs(a - b) <= 0.02 * a


def test_a_report_batch_splits_to_fit_memory(curves, monkeypatch):
    from synthcircuits.viz import featurevis

    canvas = plan_canvas(Neuron("mixed3b", 379), curves.model.geometry(), 96, "receptive")
    monkeypatch.setattr(featurevis, "memory_budget", lambda: 94 * 94 * featurevis.FORWARD_BYTES_PER_PIXEL * 3 * 3)
    assert featurevis.batch_limit(canvas, Settings()) == 3


# -- receptive-field canvases -----------------------------------------------------------------


@pytest.mark.parametrize("cls", [InceptionV1, BVLCGoogLeNet, TorchvisionGoogLeNet])
def test_the_cone_of_a_unit_gives_exactly_its_activation(cls):
    model = random_network(cls)
    geometry = model.geometry()
    names = [name for name, _ in model.stages()]
    for layer in [n for n in names if geometry.knows(n)][1:9]:
        side, position = receptive_window(geometry, layer)
        for side, position in ((side, position), (side + 9, position + 1)):
            x = torch.rand(2, 3, side, side)
            whole = capture(model, x, [layer])[layer][:, :, position, position]
            cone = geometry.cone(layer, side, position)
            first, last = cone.input
            part = capture(model, x[..., first : last + 1, first : last + 1], [layer], crops=cone.crops)[layer]
            assert part.shape[-1] < capture(model, x, [layer])[layer].shape[-1] or layer == names[0]
            torch.testing.assert_close(part[:, :, cone.position, cone.position], whole, rtol=1e-4, atol=1e-4)


def test_transforming_only_what_the_window_can_reach_changes_nothing():
    model = random_network(InceptionV1)
    for layer in ("conv2d1", "conv2d2", "mixed3a"):
        canvas = plan_canvas(Neuron(layer, 0), model.geometry(), 128, "receptive")
        assert canvas.reach < canvas.side
        view = View.of(model, canvas)
        for seed in range(12):
            image = torch.rand(1, 3, canvas.side, canvas.side)
            whole = view.run(model, robustness(image, [torch.Generator().manual_seed(seed)]), [layer]).centre(layer)
            part = view.run(model, robustness(centre_window(image, canvas.reach), [torch.Generator().manual_seed(seed)]),
                            [layer]).centre(layer)
            torch.testing.assert_close(part, whole, rtol=1e-4, atol=1e-2)


def test_a_receptive_canvas_picture_excites_its_unit_like_a_full_one(curves):
    """Each picture's unit activation, receptive canvas over full canvas: about 1 on average
    (one seed's picture varies by several percent either way), never far below."""
    units = [Neuron("mixed3a", c) for c in MIXED3A_CURVES] + [Neuron("conv2d2", 20), Neuron("conv2d1", 8)]
    settings = dict(steps=64, size=96)
    full = visualise_many(curves.model, [Request(u) for u in units], Settings(canvas="full", **settings), progress=False)
    small = visualise_many(curves.model, [Request(u) for u in units], Settings(canvas="receptive", **settings), progress=False)
    ratios = []
    for unit, f, s in zip(units, full, small):
        assert s.canvas.window is not None and s.final.shape[-1] < f.final.shape[-1]
        on_full = float(score(curves.model, unit, f.final, f.canvas)[0])
        ratios.append(float(score(curves.model, unit, s.final, s.canvas)[0]) / on_full)
        assert on_full > 0
    assert min(ratios) > 0.85 and sum(ratios) / len(ratios) > 0.95, ratios


def test_objectives_that_read_whole_layers_keep_the_full_canvas(curves):
    geometry = curves.model.geometry()
    assert plan_canvas(Channel("mixed3a", 92), geometry, 80, "receptive").window is None
    assert plan_canvas(Neuron("mixed3a", 92) + Diversity("mixed3a"), geometry, 80, "receptive").window is None
    assert plan_canvas(Neuron("mixed3a", 92) - Neuron("mixed3a", 163), geometry, 80, "receptive").window == 62
    # a unit that sees more than the whole canvas keeps the canvas (mixed4a: 171 px)
    assert plan_canvas(Neuron("mixed4a", 0), geometry, 128, "receptive").window is None


# -- the algebra ------------------------------------------------------------------------------


def test_objective_text_parses_into_the_algebra():
    resolve = lambda text: (text.split(":")[0], int(text.split(":")[1]))  # noqa: E731
    objective = parse_objective("mixed3b:379 - 0.5*mixed3b:385 + 2 * channel(mixed3a:3)", resolve)
    acts = Activations({"mixed3b": torch.arange(480.0).repeat(2, 1)[:, :, None, None].expand(2, 480, 3, 3),
                        "mixed3a": torch.ones(2, 256, 3, 3)})
    assert isinstance(objective, Sum) and objective.layers() == {"mixed3b", "mixed3a"}
    torch.testing.assert_close(objective(acts), torch.full((2,), 379 - 0.5 * 385 + 2.0))
    assert str(objective) == "mixed3b:379 - 0.5*mixed3b:385 + 2*channel(mixed3a:3)"
    assert isinstance(parse_objective("interpolate(a:1, (a:2))", resolve), Interpolate)
    for bad, column in (("a:1 +", 5), ("a:1 a:2", 4), ("nope(a:1)", 0), ("(a:1", 4), ("", 0), ("2*", 2)):
        with pytest.raises(ObjectiveSyntaxError) as error:
            parse_objective(bad, resolve)
        assert error.value.column == column, (bad, str(error.value))


def test_a_difference_picture_excites_the_first_unit_more_than_the_second(curves):
    a, b = Neuron("mixed3a", MIXED3A_CURVES[0]), Neuron("mixed3a", MIXED3A_CURVES[1])
    (picture,) = visualise_many(curves.model, [Request(a - b)], Settings(steps=48, size=64, canvas="receptive"), progress=False)
    on_a = float(score(curves.model, a, picture.final, picture.canvas)[0])
    on_b = float(score(curves.model, b, picture.final, picture.canvas)[0])
    assert on_a > 2 * on_b and on_a > 0


def test_diversity_pushes_a_batch_apart(curves):
    def spread(objective):
        """(smallest pixel distance between two images, mean similarity of their mixed3a Gram matrices)."""
        (picture,) = visualise_many(curves.model, [Request(objective, images=3)], Settings(steps=48, size=64), progress=False)
        images = picture.final.flatten(1)
        distance = min(float((images[i] - images[j]).norm()) / images.shape[1] ** 0.5 for i in range(3) for j in range(i))
        return distance, -float(score(curves.model, Diversity("mixed3a"), picture.final, picture.canvas).mean())

    unit = Neuron("mixed3a", MIXED3A_CURVES[0])
    (plain_distance, plain_similarity), (distance, similarity) = spread(unit), spread(unit + 300.0 * Diversity("mixed3a"))
    assert distance > 0.1 and plain_distance > 0.1
    assert similarity < plain_similarity - 0.05, (plain_similarity, similarity)


def test_interpolation_runs_from_one_unit_to_the_other(curves):
    a, b = Neuron("mixed3a", MIXED3A_CURVES[0]), Neuron("mixed3a", MIXED3A_CURVES[1])
    (picture,) = visualise_many(curves.model, [Request(Interpolate(a, b), images=3)], Settings(steps=48, size=64, canvas="receptive"),
                                progress=False)
    ratio = score(curves.model, a, picture.final, picture.canvas) / score(curves.model, b, picture.final, picture.canvas).clamp_min(1e-3)
    assert ratio[0] > ratio[2], ratio.tolist()


def test_a_caricature_takes_on_the_layers_view_of_its_image(curves):
    stripes = torch.zeros(3, 64, 64)
    stripes[:, :, ::8] = 1.0
    stripes[:, :, 1::8] = 1.0
    objective = Caricature("conv2d1", stripes)
    (picture,) = visualise_many(curves.model, [Request(objective)], Settings(steps=32, size=64), progress=False)
    start = visualise_many(curves.model, [Request(objective)], Settings(steps=32, size=64, thresholds=(0,)), progress=False)[0].snapshots[0]
    assert float(score(curves.model, objective, picture.final, picture.canvas)[0]) > 3 * max(
        float(score(curves.model, objective, start, picture.canvas)[0]), 1e-6)


# -- the command line -------------------------------------------------------------------------


def test_vis_draws_several_objectives_as_rows(tmp_path, capsys):
    out = tmp_path / "v.png"
    assert main(["vis", "mixed3a:92 - mixed3a:163", "conv2d2:20", "--spec", str(SPEC), "--batch", "2", "--steps", "4", "--size", "64",
                 "--canvas", "receptive", "-o", str(out)]) == 0
    width, height = Image.open(out).size
    conv2d2_side = plan_canvas(Neuron("conv2d2", 20), open_model(SPEC).model.geometry(), 64, "receptive").shown
    assert height == 78 + 2 + conv2d2_side and width == 2 * 78 + 2
    assert "2 objective(s) x 2 image(s)" in capsys.readouterr().out


def test_vis_refuses_a_broken_objective_with_its_column(tmp_path, capsys):
    out = tmp_path / "v.png"
    assert main(["vis", "mixed3a:92 -* 2", "--spec", str(SPEC), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "column 13" in err and "Traceback" not in err and not out.exists()
    assert main(["vis", "diversity(nolayer)", "--spec", str(SPEC), "-o", str(out)]) == 2
    assert "unknown layer name(s): nolayer" in capsys.readouterr().err and not out.exists()


def test_report_pictures_are_the_vis_pictures_of_the_same_settings(tmp_path):
    report = tmp_path / "report"
    assert main(["report", str(SPEC), "--units", "mixed3a:92,conv2d2:20", "--steps", "6", "--size", "48", "-o", str(report)]) == 0
    for unit in ("mixed3a:92", "conv2d2:20"):
        assert main(["vis", unit, "--spec", str(SPEC), "--steps", "6", "--size", "48", "--canvas", "receptive",
                     "-o", str(tmp_path / "v.png")]) == 0
        page = (report / f"unit_{unit.replace(':', '_')}.html").read_text()
        asset = page.split("<h2>Feature visualisation</h2><img src='")[1].split("'")[0]
        mine = np.asarray(Image.open(report / asset), dtype=float)
        theirs = np.asarray(Image.open(tmp_path / "v.png"), dtype=float)
        assert mine.shape == theirs.shape and np.abs(mine - theirs).mean() < 1.0


# -- threads ----------------------------------------------------------------------------------


def test_usable_cores_follow_the_affinity_mask():
    code = "import os; os.sched_setaffinity(0, {0}); from synthcircuits.threads import usable_cores; print(usable_cores())"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "1"
    assert usable_cores() == len(os.sched_getaffinity(0))


def test_threads_option_fixes_the_count_and_turns_tuning_off():
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1 and ThreadTuner().last is None
    finally:
        set_threads(None)
    assert torch.get_num_threads() == usable_cores()


def test_the_tuner_gives_cores_to_a_busy_neighbour_and_takes_them_back():
    """The CPU readings are the test's: a neighbour busy on one core for two seconds, then gone.
    (`benchmarks/bench_threads.py` runs the same against real spinning processes.)"""
    set_threads(None)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    now = {"t": 0.0, "busy": 0.0, "own": 0.0}

    def advance(seconds: float, own_cores: float, other_cores: float) -> None:
        now["t"] += seconds
        now["own"] += own_cores * seconds
        now["busy"] += (own_cores + other_cores) * seconds

    tuner = ThreadTuner(interval=1.0, sample=lambda: CpuSample(now["t"], now["busy"], now["own"]), clock=lambda: now["t"])
    try:
        advance(0.5, 4, 0)
        tuner.tick()
        assert tuner.threads == 4  # not a second yet: nothing read
        advance(0.6, 3, 1)  # a neighbour takes one core
        tuner.tick()
        assert tuner.threads == torch.get_num_threads() == 3
        advance(1.2, 1, 3)  # three cores busy elsewhere: one left, and never fewer than one
        tuner.tick()
        assert tuner.threads == 1
        advance(1.0, 1, 0)  # the neighbours are gone
        tuner.tick()
        assert tuner.threads == torch.get_num_threads() == 4
        advance(1.0, 2, 5)  # more busy than there are cores: still one thread
        tuner.tick()
        assert tuner.threads == 1
        tuner.close()
        assert torch.get_num_threads() == 4
    finally:
        torch.set_num_threads(before)


def test_find_draws_its_members_feature_visualisations_as_one_sheet(tmp_path):
    assert main(["find", "mixed3b", "--spec", str(SPEC), "--vis-steps", "2", "-o", str(tmp_path)]) == 0
    found = json.loads((tmp_path / "find.json").read_text())
    shown = [u for u in found["units"] if u["member"]][:24] or found["units"][:24]
    side = plan_canvas(Neuron("mixed3b", 0), open_model(SPEC).model.geometry(), 96, "receptive").shown
    rows = -(-len(shown) // 6)
    assert Image.open(tmp_path / "find_vis.png").size == (min(6, len(shown)) * (side + 2) - 2, rows * (side + 2) - 2)
