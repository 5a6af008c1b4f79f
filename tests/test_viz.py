import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from PIL import Image

from browser import chromium
from synthcircuits.layout import INCEPTIONV1
from synthcircuits.cli import main
from synthcircuits.compile import compile_spec
from synthcircuits.layout import parse_unit
from synthcircuits.commands.common import open_model
from synthcircuits.language import load_spec
from synthcircuits.viz.featurevis import visualise
from synthcircuits.viz.objectives import Neuron
from synthcircuits.viz.weight_diagram import draw_weight_diagram, incoming_kernels, strongest

ROOT = Path(__file__).parent.parent
SPECS = ROOT / "specs"


def stripe_energy(image):
    """Spectral energy of a grey image along the horizontal (vertical stripes) and vertical frequency axes."""
    grey = image.mean(0) - image.mean()
    f = torch.fft.fft2(grey).abs()
    return float(f[0, 1:16].sum()), float(f[1:16, 0].sum())


@pytest.fixture(scope="module")
def lines_build():
    return compile_spec(load_spec(SPECS / "lines_from_gabors.yaml"), "compact")


def test_feature_visualisation_of_a_vertical_line_unit_has_vertical_stripes(lines_build):
    model = lines_build.model()
    vertical = next(u for u in lines_build.units if u.family == "line" and u.orientation == 90.0)
    horizontal = next(u for u in lines_build.units if u.family == "line" and u.orientation == 0.0)
    v = visualise(model, Neuron("conv2d2", vertical.channel), steps=64, size=64, progress=False)[64][0]
    h = visualise(model, Neuron("conv2d2", horizontal.channel), steps=64, size=64, progress=False)[64][0]
    along_x, along_y = stripe_energy(v)
    assert along_x > 2 * along_y  # variation across x: vertical stripes
    along_x, along_y = stripe_energy(h)
    assert along_y > 2 * along_x


def test_feature_visualisation_is_seeded_and_keeps_thresholds(lines_build):
    model = lines_build.model()
    unit = lines_build.units[-1]
    with torch.no_grad():  # works even where the caller switched autograd off
        a = visualise(model, Neuron("conv2d2", unit.channel), steps=8, size=48, seed=3, thresholds=(0, 4), progress=False)
    b = visualise(model, Neuron("conv2d2", unit.channel), steps=8, size=48, seed=3, thresholds=(0, 4), progress=False)
    assert sorted(a) == [0, 4, 8] and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a[0], a[8])


def test_feature_visualisation_runs_only_up_to_the_target_layer():
    build = compile_spec(load_spec(SPECS / "curve_circuit.yaml"))
    model = build.model()

    def boom(*args):
        raise AssertionError("mixed4a ran while visualising a mixed3b unit")

    model.mixed4a_1x1_pre_relu_conv.forward = boom
    visualise(model, Neuron("mixed3b", 379), steps=2, size=64, progress=False)


def test_weight_diagram_colours_match_the_signs_of_the_weights(tmp_path):
    source = open_model(SPECS / "curve_circuit.yaml")
    kernels = strongest(incoming_kernels(source, parse_unit("3b:379", INCEPTIONV1)))
    assert kernels and any((k.weights > 0).any() for k in kernels) and any((k.weights < 0).any() for k in kernels)
    path = tmp_path / "diagram.png"
    cells = draw_weight_diagram("3b:379", kernels, path)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    scale = max(k.strength for k in kernels)
    checked = 0
    for cell in cells:
        w = cell.kernel.weights
        for r in range(w.shape[0]):
            for c in range(w.shape[1]):
                if abs(w[r, c]) < 0.2 * scale:
                    continue
                red, _, blue = image[cell.centre_of(r, c)[::-1]]
                assert (red > blue) == (w[r, c] > 0), (cell.kernel.name, r, c, w[r, c])
                checked += 1
    assert checked > 10
    # every drawn input reaches 30% of the strongest; the weaker ones are left out
    everything = incoming_kernels(source, parse_unit("3b:379", INCEPTIONV1))
    assert all(k.strength >= 0.3 * scale for k in kernels)
    assert len(kernels) == sum(k.strength >= 0.3 * scale for k in everything)


def test_report_opens_in_a_browser_with_no_broken_images_or_links(tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(SPECS / "small_curves.yaml"), "-o", str(out), "--steps", "8", "--size", "48",
                 "--units", "mixed3a:64,mixed3a:65,conv2d2:0,conv2d2:3"]) == 0
    unit_page = out / "unit_mixed3a_64.html"
    for page in (out / "index.html", unit_page):
        dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile").stdout
        assert 'data-broken-images="0"' in dom, dom[-500:]
        for href in re.findall(r'href="([^"]+)"', dom):
            assert (page.parent / unquote(href)).is_file(), f"{page.name} links to missing {href}"
        assert len(re.findall(r"<img ", dom)) >= (4 if page == out / "index.html" else 3)
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1000,1200", unit_page.as_uri(), profile=tmp_path / "profile")
    picture = np.asarray(Image.open(shot).convert("L"))
    assert picture.shape == (1200, 1000) and picture.std() > 10  # something was drawn, not a blank page
    assert 'href="unit_conv2d2_0.html"' in unit_page.read_text() or "unit_conv2d2_0.html" in unit_page.read_text()


def test_a_second_report_run_redraws_nothing(tmp_path):
    out = tmp_path / "report"
    args = ["report", str(SPECS / "lines_from_gabors.yaml"), "-o", str(out), "--steps", "4", "--size", "32", "--units", "conv2d2:0,conv2d2:1"]
    assert main(args) == 0
    stamps = {p: p.stat().st_mtime_ns for p in (out / "assets").iterdir()}
    assert len(stamps) == 6
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "assets").iterdir()} == stamps


def test_vis_and_diagram_commands_write_pngs(tmp_path):
    assert main(["vis", "mixed3a:66", "--spec", str(SPECS / "small_curves.yaml"), "-o", str(tmp_path / "v.png"), "--steps", "4",
                 "--size", "48", "--thresholds", "0,2"]) == 0
    assert Image.open(tmp_path / "v.png").size == (48 * 3 + 2 * 2, 48)  # three steps, 2 px apart
    assert main(["weights", "diagram", "mixed3a:66", "--spec", str(SPECS / "small_curves.yaml"), "-o", str(tmp_path / "d.png")]) == 0
    assert Image.open(tmp_path / "d.png").format == "PNG"


def test_tuning_command_overlays_models_and_maps_orientation_by_radius(tmp_path):
    compact = tmp_path / "compact.safetensors"
    assert main(["build", str(SPECS / "small_curves.yaml"), "--target", "compact", "-o", str(compact)]) == 0
    out = tmp_path / "tuning.png"
    assert main(["tuning", str(SPECS / "small_curves.yaml"), str(compact), "--units", "mixed3a:64,mixed3a:66",
                 "--radii", "16,32", "--step", "30", "-o", str(out)]) == 0
    assert Image.open(out).format == "PNG" and Image.open(tmp_path / "tuning_radius.png").format == "PNG"
