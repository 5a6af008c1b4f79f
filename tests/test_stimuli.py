import numpy as np
import pytest
import torch

from synthcircuits.stimuli import arcs, center_surround, color_contrast, edges, gabor_patches, lines


def ink(images):
    """Darkness of each pixel of a black-on-white batch, (N, H, W)."""
    return 1 - images[:, 0]


def principal_axis_deg(weights):
    """Orientation (0-180, counter-clockwise, y up) of the main axis of a 2-D weight map."""
    h, w = weights.shape
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    x, y = xs - w / 2, h / 2 - ys
    total = weights.sum()
    mx, my = (weights * x).sum() / total, (weights * y).sum() / total
    cxx = (weights * (x - mx) ** 2).sum() / total
    cyy = (weights * (y - my) ** 2).sum() / total
    cxy = (weights * (x - mx) * (y - my)).sum() / total
    return float(np.rad2deg(0.5 * np.arctan2(float(2 * cxy), float(cxx - cyy))) % 180)


@pytest.mark.parametrize("render", [
    lambda o: arcs(o, 40.0), lambda o: lines(o, length=80.0), lambda o: edges(o), lambda o: gabor_patches(o),
    lambda o: color_contrast(o),
], ids=["arcs", "lines", "edges", "gabors", "color_contrast"])
def test_stimuli_are_deterministic_and_in_range(render):
    a, b = render(torch.tensor([0.0, 33.0, 271.5])), render(torch.tensor([0.0, 33.0, 271.5]))
    assert torch.equal(a, b)
    assert a.shape == (3, 3, 224, 224) and a.min() >= 0 and a.max() <= 1


def test_a_zero_degree_line_lies_along_the_horizontal_axis():
    image = ink(lines(0.0, length=100.0))[0]
    assert principal_axis_deg(image) == pytest.approx(0.0, abs=0.5)
    rows_with_ink = (image.sum(1) > 0).nonzero().flatten()
    assert rows_with_ink.min() >= 108 and rows_with_ink.max() <= 115  # a thin horizontal band through the centre
    assert principal_axis_deg(ink(lines(30.0, length=100.0))[0]) == pytest.approx(30.0, abs=0.5)


@pytest.mark.parametrize("angle", [0.0, 37.0, 90.0, 200.0])
def test_rotating_the_parameter_rotates_the_image(angle):
    # About the image centre, a quarter turn maps the pixel grid onto itself exactly.
    for render in (lambda o: arcs(o, 40.0), lambda o: lines(o, length=90.0), edges):
        turned = render(torch.tensor([angle + 90.0]))
        rotated = torch.rot90(render(torch.tensor([angle])), 1, dims=(-2, -1))
        torch.testing.assert_close(turned, rotated, atol=1e-4, rtol=0)


def test_arcs_bulge_towards_their_orientation():
    for angle, (dx, dy) in [(0.0, (-1, 0)), (90.0, (0, -1)), (180.0, (1, 0)), (270.0, (0, 1))]:
        image = ink(arcs(angle, 40.0, span=120.0))[0]
        ys, xs = torch.meshgrid(torch.arange(224) + 0.5, torch.arange(224) + 0.5, indexing="ij")
        cx = float((image * (xs - 112)).sum() / image.sum())
        cy = float((image * (112 - ys)).sum() / image.sum())
        # the arc's ends curl back towards the centre of curvature, opposite the convex side
        assert np.sign(round(cx)) == dx and np.sign(round(cy)) == dy, (angle, cx, cy)


def test_polarity_and_colours():
    white_on_black = arcs(45.0, 30.0, polarity=-1)
    assert white_on_black[0, :, 0, 0].tolist() == [0.0, 0.0, 0.0] and white_on_black.max() == 1
    red_on_green = color_contrast(90.0)  # normal points left: red on the left
    assert red_on_green[0, :, 112, 10].tolist() == [1.0, 0.0, 0.0] and red_on_green[0, :, 112, 200].tolist() == [0.0, 1.0, 0.0]
    disc = center_surround(10.0, surround_radius=30.0)
    assert disc[0, :, 112, 112].tolist() == [1.0, 1.0, 1.0] and disc[0, :, 112, 132].tolist() == [0.0, 0.0, 0.0]
    assert disc[0, :, 0, 0].tolist() == [0.5, 0.5, 0.5]


def test_strokes_are_anti_aliased():
    image = lines(10.0, length=100.0)
    values = image.unique()
    assert ((values > 0) & (values < 1)).sum() > 10  # partial coverage at the stroke edges


# -- the census battery's renderers ---------------------------------------------------------
from synthcircuits.stimuli import gratings, half_gratings, hatches, ramps, rays, rings  # noqa: E402


@pytest.mark.parametrize("render", [
    lambda o: gratings(o, wavelength=6.0), lambda o: half_gratings(o), lambda o: hatches(o), lambda o: ramps(o),
    lambda o: rays(torch.stack([o, o + 90.0], 1)), lambda o: rings(o / 10 + 5),
], ids=["gratings", "half_gratings", "hatches", "ramps", "rays", "rings"])
def test_battery_stimuli_are_deterministic_and_in_range(render):
    o = torch.tensor([0.0, 33.0, 271.5])
    a, b = render(o), render(o)
    assert torch.equal(a, b)
    assert a.shape == (3, 3, 224, 224) and a.min() >= 0 and a.max() <= 1


def test_a_grating_varies_across_its_orientation_only():
    g = gratings(0.0, wavelength=8.0)[0, 0]  # stripes along the horizontal: constant along each row
    assert torch.allclose(g, g[:, :1].expand_as(g), atol=1e-6)
    assert float(g[:, 0].max() - g[:, 0].min()) > 0.9
    phase = gratings(0.0, wavelength=8.0, phase=180.0)[0, 0]
    assert torch.allclose(g + phase, torch.ones_like(g), atol=1e-5)  # half a period: the negative


def test_a_half_grating_is_fine_on_the_normal_side_and_flat_on_the_other():
    image = half_gratings(0.0, wavelength=3.0)[0, 0]  # normal points up: texture in the top half
    top, bottom = image[:100], image[124:]
    assert float(top.std()) > 0.3 and float(bottom.std()) < 1e-6 and float(bottom.mean()) == pytest.approx(0.5)


def test_rays_from_the_centre_make_an_angle_and_rings_have_their_radius():
    angle = ink(rays(torch.tensor([[0.0, 90.0]]), length=40.0, width=2.0))[0]
    assert angle[112, 140] > 0.9 and angle[85, 112] > 0.9  # right along x, up along y
    assert angle[112, 85] == 0 and angle[140, 112] == 0  # nothing to the left or below
    ring = ink(rings(20.0, width=2.0))[0]
    assert ring[112, 112 + 20] > 0.5 and ring[112, 112] == 0 and ring[112, 112 + 30] == 0
    assert float(rings(20.0, polarity=-1.0)[0, 0, 112, 112]) == 0.0  # white on black


def test_hatches_cross_and_ramps_rise_towards_the_normal():
    h = ink(hatches(0.0, wavelength=8.0))[0]
    assert float(h.mean(0).max()) > 0.7 and float(h.mean(1).max()) > 0.7  # full vertical and horizontal strokes
    r = ramps(90.0, extent=100.0)[0, 0]  # normal at 180 deg: brighter to the left
    assert float(r[112, 80]) > float(r[112, 140])
