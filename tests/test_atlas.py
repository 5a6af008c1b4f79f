"""The atlas: a static site of every unit of chosen layers, opened in headless Chromium from disk,
on a compiled spec (its designed units are the ground truth for the family each page names) and
on a traced torchvision network."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import assert_page_whole, chromium
from processes import start_cli
from synthcircuits.cli import main
from synthcircuits.commands.common import open_model

SPECS = Path(__file__).resolve().parents[1] / "specs"
SPEC = SPECS / "small_curves.yaml"


def build(args: list, capsys) -> str:
    assert main(["atlas", *map(str, args)]) == 0
    return capsys.readouterr().out


def drawn(out: str) -> int:
    return int(re.search(r"; (\d+) pictures drawn", out).group(1))


def opened(page: Path, profile: Path) -> str:
    """The DOM of `page` after it ran, asserting no script error, no broken image and no dead link."""
    dom = assert_page_whole(page, profile)
    assert 'data-js-errors="0"' in dom, dom[:400]
    return dom


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(5)
    for k in range(8):
        Image.fromarray((rng.random((80, 80, 3)) * 255).astype(np.uint8)).save(folder / f"{k}.png")
    return folder


@pytest.fixture(scope="module")
def spec_atlas(tmp_path_factory, images):
    out = tmp_path_factory.mktemp("atlas") / "site"
    assert main(["atlas", "--spec", str(SPEC), "--layers", "conv2d2,mixed3a", "--vis-steps", "2", "--diverse", "2",
                 "--images", str(images), "-o", str(out)]) == 0
    return out


def test_every_designed_unit_page_names_its_family_and_silent_units_say_so(spec_atlas):
    designed = {key: kind for key, kind in open_model(SPEC).designed.items() if key[0] in ("conv2d2", "mixed3a")}
    assert sorted(designed.values()) == ["early_curve"] * 8 + ["line"] * 16
    for (layer, channel), kind in designed.items():
        page = spec_atlas / f"u_{layer}_{channel}.html"
        assert f"<b class='family'>{kind}</b>" in page.read_text(), page.name
    silent = (spec_atlas / "u_mixed3a_200.html").read_text()
    assert "silent" in silent and "no gradient to climb" in silent


def test_the_index_a_layer_page_and_a_unit_page_open_whole_in_a_browser(spec_atlas, tmp_path):
    index = opened(spec_atlas / "index.html", tmp_path / "p")
    assert "l_mixed3a.html" in index and "early_curve" in index
    layer = opened(spec_atlas / "l_mixed3a.html", tmp_path / "p")
    assert layer.count("class=\"card") == 256 and "data-family=\"early_curve\"" in layer
    unit = opened(spec_atlas / "u_mixed3a_64.html", tmp_path / "p")
    for section in ("Feature visualisation", "Tuning and strongest stimuli", "Dataset examples", "strongest inputs"):
        assert section in unit
    assert 'id="next"' in unit and 'id="prev"' in unit and 'id="up"' in unit  # the keys' targets
    pictures = re.findall(r'src="(assets/[^"]+)"', unit)
    assert len(pictures) >= 8 and all((spec_atlas / p).is_file() for p in pictures)
    assert all(Image.open(spec_atlas / p).size[0] <= 512 for p in pictures)  # small pictures, each page its own


@pytest.mark.parametrize("typed", ["mixed3a:64", "3a:64", "MIXED3A_3X3:0", " 3a : 64 "])
def test_the_search_finds_a_unit_by_any_address(spec_atlas, tmp_path, typed):
    dom = chromium("--dump-dom", (spec_atlas / "index.html").as_uri() + "#find=" + typed.replace(" ", "%20"), profile=tmp_path / "p").stdout
    assert "<h1>mixed3a:64</h1>" in dom, dom[:300]


def test_the_search_says_when_no_unit_matches(spec_atlas, tmp_path):
    dom = chromium("--dump-dom", (spec_atlas / "index.html").as_uri() + "#find=mixed9z:1", profile=tmp_path / "p").stdout
    assert "no unit mixed9z:1" in dom


def test_following_an_incoming_weight_link_lands_on_that_units_page(spec_atlas, tmp_path):
    page = spec_atlas / "u_mixed3a_64.html"
    links = re.findall(r"<a class='weight-link' href='([^']+)'>([^<]+)</a>", page.read_text())
    assert links, "mixed3a:64 should read conv2d2 lines"
    href, name = links[0]
    target = opened(spec_atlas / href, tmp_path / "p")
    assert f"<h1>{name}</h1>" in target
    assert "u_mixed3a_64.html" in (spec_atlas / href).read_text()  # and the line's outgoing links lead back


def test_a_bigger_build_draws_only_what_is_missing_and_a_moved_folder_still_works(spec_atlas, images, tmp_path, capsys):
    copy = tmp_path / "moved"
    shutil.copytree(spec_atlas, copy)
    args = ["--spec", SPEC, "--vis-steps", "2", "--diverse", "2", "--images", images, "-o", copy]
    assert drawn(build([*args, "--layers", "conv2d2,mixed3a"], capsys)) == 0
    lost = sorted((copy / "assets").glob("vis-neuron_*.png"))[:5]
    for path in lost:
        path.unlink()  # as if the build had stopped before drawing them
    assert drawn(build([*args, "--layers", "conv2d2,mixed3a"], capsys)) == 5
    before = {p.name: p.stat().st_mtime_ns for p in (copy / "assets").iterdir()}
    out = build([*args, "--layers", "conv2d1,conv2d2,mixed3a"], capsys)  # one layer more: only its pictures are new
    after = {p.name: p.stat().st_mtime_ns for p in (copy / "assets").iterdir()}
    assert all(after[name] == stamp for name, stamp in before.items())
    new = set(after) - set(before)
    assert drawn(out) == len(new) and sum(name.startswith("vis-") for name in new) == 16 * 3  # 16 complex Gabors, three kinds
    opened(copy / "l_conv2d1.html", tmp_path / "p")


@pytest.fixture(scope="module")
def traced_atlas(tmp_path_factory):
    from synthcircuits.models import build_model, save_safetensors, weights_metadata

    folder = tmp_path_factory.mktemp("r18")
    model = build_model("torchvision:resnet18", seed=4)
    weights = save_safetensors(model.state_dict(), folder / "r18.safetensors", weights_metadata(model))
    assert main(["atlas", "--weights", str(weights), "--layers", "layer1.0.conv1,layer1.0.conv2", "--vis-steps", "1", "--diverse", "0",
                 "-o", str(folder / "site")]) == 0
    return folder / "site"


def test_a_traced_network_atlas_links_its_convs_both_ways(traced_atlas, tmp_path):
    unit = opened(traced_atlas / "u_layer1_0_conv2_7.html", tmp_path / "p")
    links = re.findall(r"<a class=\"weight-link\" href=\"([^\"]+)\">([^<]+)</a>", unit)
    assert links and all(href.startswith("u_layer1_0_conv1_") for href, _ in links)
    href, name = links[0]
    assert f"<h1>{name}</h1>" in opened(traced_atlas / href, tmp_path / "p")
    first = (traced_atlas / "u_layer1_0_conv1_3.html").read_text()
    assert "maxpool:" in first and "strongest outputs" in first  # inputs from an unlisted node: named, not linked
    dom = chromium("--dump-dom", (traced_atlas / "l_layer1_0_conv2.html").as_uri() + "#find=layer1.0.conv2:7", profile=tmp_path / "p").stdout
    assert "<h1>layer1.0.conv2:7</h1>" in dom


@pytest.mark.parametrize("layers, message", [
    ("nolayer", "has no layer 'nolayer'"),
    ("maxpool1", "pool layer"),
    (" , ", "no layer named"),
])
def test_bad_layers_exit_2_and_write_nothing(layers, message, safetensors_weights_file, tmp_path, capsys):
    assert main(["atlas", "--weights", str(safetensors_weights_file), "--layers", layers, "-o", str(tmp_path / "a")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "a").exists()


def test_a_build_stopped_mid_way_keeps_its_pictures_and_the_next_build_finishes_the_rest(tmp_path, capsys):
    import signal
    import time

    out = tmp_path / "site"
    args = ["atlas", "--spec", str(SPEC), "--layers", "conv2d1,conv2d2,mixed3a", "--vis-steps", "8", "--diverse", "2", "-o", str(out)]
    process = start_cli(args)
    deadline = time.monotonic() + 600  # a safety net only: the loop ends as soon as 32 pictures exist, however busy the machine
    while len(list((out / "assets").glob("vis-*.png"))) < 32 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)  # the first chunk of 32 pictures is on disk
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 130
    kept = len(list((out / "assets").glob("vis-*.png")))
    assert 32 <= kept < 120 and not (out / "index.html").exists()  # pictures kept, no half-written site
    finished = drawn(build(args[1:], capsys))
    assert finished >= 120 - kept and len(list((out / "assets").glob("vis-*.png"))) == 120  # 40 units x 3 kinds
    assert (out / "index.html").is_file()
