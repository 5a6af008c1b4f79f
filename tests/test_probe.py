import numpy as np
import pytest
import torch

from synthcircuits.compile import compile_spec
from synthcircuits.errors import UserError
from synthcircuits.models import build_model, capture
from synthcircuits.probe.compare import compare_models
from synthcircuits.probe.tuning import ProbeUnit, RadialSweep, TuningCurve, radial_tuning, responses_at_centre
from synthcircuits.probe.unit_forward import unit_activations
from synthcircuits.opened import OpenedModel
from synthcircuits.language import load_spec, parse_spec
from synthcircuits.stimuli import edges
from synthcircuits.commands.verify import verify_spec
from synthcircuits.layout import INCEPTIONV1, parse_units
from pathlib import Path

SPECS = Path(__file__).parent.parent / "specs"


def test_tuning_statistics_of_a_known_curve():
    angles = np.arange(0, 360, 5.0)
    d = (angles - 100 + 180) % 360 - 180
    curve = TuningCurve("u", angles, np.exp(-(d**2) / (2 * 20.0**2)) + 0.2 * np.exp(-((np.abs(d) - 180) ** 2) / (2 * 20.0**2)))
    assert curve.preferred() == pytest.approx(100, abs=0.5)
    assert curve.width() == pytest.approx(2 * np.sqrt(2 * np.log(2)) * 20, abs=2)  # FWHM of a Gaussian
    assert curve.echo() == pytest.approx(0.2, abs=0.01)


def test_tuning_measurement_recovers_a_hand_made_oriented_filter():
    spec = parse_spec("""
synthcircuits: 1
name: edge
families:
  - {name: edge, layer: conv2d0, orientations: [30], period: 360, kernel: {edge: {size: 7, width: 1.0}}}
""")
    build = compile_spec(spec, "compact")
    model = build.model()
    unit = ProbeUnit("edge", "conv2d0", 0)
    angles = torch.arange(0, 360, 5.0)
    from synthcircuits.probe.tuning import stimulus_centre

    centre = stimulus_centre("conv2d0", 224)
    render = lambda o: edges(o, center=centre, foreground=(1, 1, 1), background=(0, 0, 0))  # bright on the normal side
    responses = responses_at_centre(model, [unit], render, angles)[:, 0]
    assert TuningCurve("edge", angles.numpy(), responses).preferred() == pytest.approx(30, abs=3)


@pytest.mark.parametrize("layer, channels", [("conv2d2", [0, 191]), ("mixed3a", [10, 100, 200, 240]), ("mixed3b", [342, 379, 385]), ("mixed4a", [5, 450])])
def test_unit_level_probing_equals_the_full_forward(random_inceptionv1, layer, channels):
    images = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(1))
    full = capture(random_inceptionv1, images, [layer])[layer]
    for position in (0, full.shape[-1] // 2, full.shape[-1] - 1):
        got = unit_activations(random_inceptionv1, images, layer, channels, position)
        torch.testing.assert_close(got, full[:, channels, position, position], rtol=1e-5, atol=1e-4)


def test_unit_level_probing_computes_only_the_branches_that_hold_the_units(random_inceptionv1):
    model = build_model("inceptionv1", seed=2)

    def boom(*args):
        raise AssertionError("a branch the units do not live in was computed")

    for part in ("1x1", "3x3", "3x3_bottleneck", "pool_reduce"):
        getattr(model, f"mixed3b_{part}_pre_relu_conv").forward = boom
        getattr(model, f"mixed3b_{part}_pre_relu_conv").weight = None  # the valid-mode path reads weights directly
    images = torch.rand(1, 3, 224, 224)
    out = unit_activations(model, images, "mixed3b", [379, 385], 13)
    assert out.shape == (1, 2)


def test_unit_level_probing_refuses_models_it_does_not_know():
    with pytest.raises(UserError, match="supports InceptionV1 and compact"):
        unit_activations(build_model("torchvision_googlenet"), torch.rand(1, 3, 64, 64), "inception3a", [0], 3)


def test_compiled_uniform_curve_family_is_equivariant_under_rotation():
    build = compile_spec(load_spec(SPECS / "small_curves.yaml"), "compact")
    units = [u for u in build.units if u.family == "early_curve"]  # 8 uniform orientations, 45 deg apart
    curves = radial_tuning(build.model(), [ProbeUnit(f"c{u.index}", u.layer, u.channel) for u in units], RadialSweep(radius=32, step=5))
    for j in range(8):
        here = curves[j].responses
        # One step (45 deg): the peak moves to the next unit and the curve keeps its shape.
        # (Magnitudes differ by up to ~40% between diagonal and axis-aligned units: a 45-degree
        # turn does not map the pixel grid onto itself.)
        nxt = curves[(j + 1) % 8]
        assert np.corrcoef(np.roll(here, 9), nxt.responses)[0, 1] > 0.93
        assert (nxt.peak_angle - curves[j].peak_angle) % 360 == pytest.approx(45, abs=10)
        # Four steps (180 deg) map the grid onto itself: the responses are the same, shifted.
        np.testing.assert_allclose(np.roll(here, 36), curves[(j + 4) % 8].responses, rtol=1e-3, atol=1e-3 * here.max())


def test_compare_of_a_model_with_itself_gives_correlation_one_and_the_identity_matching():
    build = compile_spec(load_spec(SPECS / "curve_circuit.yaml"))
    source = OpenedModel("curves", build.model())
    units = parse_units("3b:342,3b:388,3b:324,3b:340,3b:330,3b:349,3b:379,3b:406,3b:385,3b:343", INCEPTIONV1)
    results = compare_models(source, source, units, RadialSweep(step=10))
    for r in results:
        assert r.correlation == pytest.approx(1.0) and r.best_match == r.unit


def test_the_curve_circuit_passes_its_checks_on_both_targets():
    spec = load_spec(SPECS / "curve_circuit.yaml")
    for target in ("inceptionv1", "compact"):
        rows, *_ = verify_spec(spec, target=target)
        failed = [r for r in rows if not r.passed]
        assert not failed, failed[:3]
        echoes = [r.value for r in rows if r.check == "curves" and r.measure.startswith("echo")]
        assert len(echoes) == 10 and max(echoes) <= 0.03


def test_a_check_that_should_fail_does_fail(tmp_path):
    text = (SPECS / "curve_circuit.yaml").read_text().replace("echo_at_least: 0.1", "echo_at_most: 0.03")
    spec_file = tmp_path / "wrong.yaml"
    spec_file.write_text(text)
    rows, *_ = verify_spec(load_spec(spec_file), target="compact")
    failed = [r for r in rows if not r.passed]
    assert failed and all(r.check == "early curves" and r.measure.startswith("echo") for r in failed)
    from synthcircuits.cli import main

    assert main(["verify", str(spec_file), "--target", "compact"]) == 1


def test_verify_with_weights_checks_the_units_at_the_spec_addresses(tmp_path):
    spec = load_spec(SPECS / "curve_circuit.yaml")
    weights = compile_spec(spec).save(tmp_path / "curves.safetensors")
    rows, *_ = verify_spec(spec, weights=weights)
    assert all(r.passed for r in rows)
    random_weights = tmp_path / "random.safetensors"
    from synthcircuits.models import save_safetensors

    save_safetensors(build_model("inceptionv1", seed=0).state_dict(), random_weights)
    rows, *_ = verify_spec(spec, weights=random_weights)
    assert any(not r.passed for r in rows)  # a random network does not hold the circuit's claims
