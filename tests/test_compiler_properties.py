"""Property tests: any small valid spec compiles and round-trips; rule-built families are
equivariant; any mangled spec fails with the spec error type and nothing else."""

import torch
import torch.nn.functional as F
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthcircuits.compile import compile_spec, expanded_layer_weights
from synthcircuits.compile.lower import compact_index
from synthcircuits.models import capture
from synthcircuits.layout import INCEPTIONV1
from synthcircuits.language import SpecError, parse_spec

from helpers import spec_weights_dense

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def pixel_kernels(draw):
    size = draw(st.sampled_from([3, 5, 7]))
    kind = draw(st.sampled_from(["gabor", "line", "edge", "arc", "center_surround"]))
    params = {
        "gabor": {"size": size, "wavelength": draw(st.floats(2, 6)), "sigma": draw(st.floats(0.8, 2))},
        "line": {"size": size, "width": draw(st.floats(0.5, 2))},
        "edge": {"size": size, "width": draw(st.floats(0.5, 2))},
        "arc": {"size": size, "radius": draw(st.floats(1, 4))},
        "center_surround": {"size": size, "center_sigma": 0.8, "surround_sigma": 2.0},
    }[kind]
    return {kind: params}


@st.composite
def rules(draw, source):
    kind = draw(st.sampled_from(["center", "along_line", "along_arc"]))
    spatial = {"center": {}, "along_line": {"length": draw(st.integers(1, 2))}, "along_arc": {"radius": draw(st.floats(1, 3))}}[kind]
    if draw(st.booleans()):
        tuning = {"excite": draw(st.floats(0.1, 2)), "inhibit": draw(st.floats(0, 1)), "width_deg": draw(st.floats(5, 60))}
    else:
        tuning = {"table": {"0": 1.0, "45": draw(st.floats(-1, 1)), "90": -0.5}}
    return {"from": source, kind: spatial, "tuning": tuning, "gain": draw(st.floats(0.1, 3))}


@st.composite
def valid_specs(draw):
    n0 = draw(st.sampled_from([1, 2, 4, 8]))
    families = [{
        "name": "f0", "layer": "conv2d0", "orientations": n0,
        "phases": draw(st.sampled_from([[0], [0, 180]])), "kernel": draw(pixel_kernels()),
    }]
    n, period = n0, 180
    chain = [("conv2d1", None), ("conv2d2", None), ("mixed3a", draw(st.sampled_from(["1x1", "3x3", "5x5"])))]
    depth = draw(st.integers(1, 3))
    for k, (layer, branch) in enumerate(chain[:depth], start=1):
        new_period = draw(st.sampled_from([180, 360])) if layer == "mixed3a" else 180
        # the target's step must be a whole number of the source's steps
        n = draw(st.sampled_from(divisors(n * new_period // period)))
        family = {"name": f"f{k}", "layer": layer, "orientations": n, "period": new_period,
                  "bias": draw(st.floats(-1, 1)), "inputs": [draw(rules(f"f{k - 1}"))]}
        if branch:
            family["branch"] = branch
        families.append(family)
        period = new_period
    return {"synthcircuits": 1, "name": "random", "families": families}


@FAST
@given(valid_specs())
def test_random_valid_specs_compile_to_both_targets_and_round_trip(data):
    spec = parse_spec(yaml.safe_dump(data), "random.yaml")
    build = compile_spec(spec)
    for layer in build.graph.layers():
        assert torch.equal(expanded_layer_weights(build.state, INCEPTIONV1, layer), spec_weights_dense(build, layer))
    compact = compile_spec(spec, "compact")
    compact.model()


def smooth_image(seed, size=131):
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 1, size, size, generator=g)
    x = torch.arange(-7, 8, dtype=torch.float32)
    blur = torch.exp(-(x**2) / (2 * 2.5**2))
    blur = (blur[:, None] * blur[None]) / blur.sum() ** 2
    smooth = F.conv2d(noise, blur[None, None], padding=7)
    smooth = (smooth - smooth.mean()) / smooth.std()
    ys, xs = torch.meshgrid(torch.arange(size) - size // 2, torch.arange(size) - size // 2, indexing="ij")
    window = torch.exp(-(xs**2 + ys**2).float() / (2 * 30.0**2))
    return (0.5 + 0.2 * smooth * window).clamp(0, 1).expand(1, 3, size, size)


def peak_responses(model, images, layer):
    acts = capture(model, images, [layer])[layer]
    h = acts.shape[-1]
    margin = h // 4
    return acts[..., margin:h - margin, margin:h - margin].amax((-2, -1))


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), gain=st.floats(0.5, 3), width=st.floats(8, 30), radius=st.floats(1.2, 2.5))
def test_rotating_the_input_by_90_degrees_permutes_a_rule_built_family(seed, gain, width, radius):
    text = f"""
synthcircuits: 1
name: equivariance
families:
  - {{name: gabor, layer: conv2d0, orientations: 8, phases: [0, 180], kernel: {{gabor: {{size: 7, wavelength: 4, sigma: 1.4}}}}}}
  - name: cgabor
    layer: conv2d1
    orientations: 8
    inputs: [{{from: gabor, center: {{}}, tuning: {{width_deg: 8}}, gain: 0.5}}]
  - name: line
    layer: conv2d2
    orientations: 8
    inputs: [{{from: cgabor, along_line: {{length: 1}}, tuning: {{excite: 1, inhibit: 0.5, width_deg: {width}}}, gain: {gain}}}]
  - name: curve
    layer: mixed3a
    branch: 3x3
    orientations: 8
    period: 360
    inputs: [{{from: line, along_arc: {{radius: {radius}}}, tuning: {{excite: 1, inhibit: 0.3, width_deg: 15}}}}]
"""
    build = compile_spec(parse_spec(text), "compact")
    model = build.model()
    image = smooth_image(seed)
    rotated = torch.rot90(image, 1, dims=(-2, -1))  # counter-clockwise on screen: +90 degrees
    index = compact_index(build.graph)
    for layer, family, shift in (("conv2d2", "line", 4), ("mixed3a", "curve", 2)):
        channels = [index[(family, i)] for i in range(8)]
        before = peak_responses(model, image, layer)[0, channels]
        after = peak_responses(model, rotated, layer)[0, channels]
        assert before.max() > 0
        # the unit turned by +90 degrees now sees what unit j saw before
        torch.testing.assert_close(torch.roll(after, -shift), before, rtol=0.1, atol=0.1 * float(before.max()))


MUTATIONS = ["delete", "retype", "unknown_key", "bad_reference", "bad_address", "orientations", "period", "branch"]
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 1000), st.floats(-1e3, 1e3, allow_nan=False), st.text(max_size=8),
                 st.lists(st.integers(-3, 3), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs(), st.data())
def test_mangled_specs_raise_the_spec_error_type_and_nothing_else(spec, data):
    families = spec["families"]
    family = data.draw(st.sampled_from(families))
    mutation = data.draw(st.sampled_from(MUTATIONS))
    if mutation == "delete":
        target = data.draw(st.sampled_from([spec, family]))
        del target[data.draw(st.sampled_from(sorted(target)))]
    elif mutation == "retype":
        family[data.draw(st.sampled_from(sorted(family)))] = data.draw(JUNK)
    elif mutation == "unknown_key":
        family[data.draw(st.text(min_size=1, max_size=6))] = data.draw(JUNK)
    elif mutation == "bad_reference" and "inputs" in family:
        family["inputs"][0]["from"] = data.draw(st.text(max_size=6))
    elif mutation == "bad_address":
        family["units"] = [data.draw(st.from_regex(r"[a-z0-9_]{0,8}:-?[0-9]{1,4}", fullmatch=True))]
    elif mutation == "orientations":
        family["orientations"] = data.draw(st.one_of(st.integers(-2, 20), st.lists(st.floats(-720, 720), max_size=4)))
    elif mutation == "period":
        family["period"] = data.draw(st.sampled_from([90, 180, 360, 0]))
    elif mutation == "branch":
        family["branch"] = data.draw(st.sampled_from(["1x1", "3x3", "5x5", "pool_reduce", "7x7"]))
    text = yaml.safe_dump(spec)
    try:
        parsed = parse_spec(text, "mangled.yaml")
        compile_spec(parsed)
        compile_spec(parsed, "compact")
    except SpecError:
        pass  # the only acceptable failure: a spec error, with its location
