"""Path patching along one edge, against the weight edit that removes the same edge, and
run-time interventions on traced networks."""

import pytest
import torch

from synthcircuits.causal import Edge, Intervention, path_patch, run_with_interventions
from synthcircuits.causal.paths import pre_activation_point
from synthcircuits.edit import apply_edits, edited_model, parse_edit
from synthcircuits.errors import UserError
from synthcircuits.layout.address import parse_unit
from synthcircuits.models import build_model
from synthcircuits.models.capture import capture


@pytest.fixture(scope="module")
def model():
    return build_model("inceptionv1", seed=0)


@pytest.fixture(scope="module")
def images():
    return torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(3))


def edge(model, source, target, change=Intervention("-", "zero")):
    arch = model.architecture
    return Edge(parse_unit(source, arch), parse_unit(target, arch), change)


@pytest.mark.parametrize("source, target", [("3a:8", "3b:10"),       # 1x1 branch
                                            ("3a:7", "3b:430"),      # pool branch (through the block's max pool)
                                            ("conv2d1:5", "conv2d2:9"),  # plain conv
                                            ("3b:300", "4a:12"),     # through maxpool4
                                            ("conv2d2:40", "3a:3")])  # through the LRN and max pool
def test_path_patching_a_direct_edge_to_zero_equals_ablating_the_connection(model, images, source, target):
    text = f"synthcircuits_edit: 1\nname: t\nedits:\n  - ablate_connection: {{from: {source}, to: {target}}}\n"
    edited = edited_model(apply_edits(model.state_dict(), parse_edit(text)))
    e = edge(model, source, target)
    point, channel = pre_activation_point(e.target)
    layers = [point, e.target.layer, "mixed4b"]
    want = capture(edited, images, layers)
    got = run_with_interventions(model, images, path_patch(model, images, [e]), layers)
    clean = capture(model, images, [point])
    assert not torch.equal(clean[point][:, channel], want[point][:, channel])  # the edge carries something here
    for layer in layers:
        torch.testing.assert_close(got[layer], want[layer], rtol=0, atol=2e-5)


def test_only_the_target_sees_the_change(model, images):
    e = edge(model, "3a:8", "3b:200")  # a 3x3-branch unit: the path goes through the bottleneck
    clean = capture(model, images, ["mixed3a", "mixed3b"])
    got = run_with_interventions(model, images, path_patch(model, images, [e]), ["mixed3a", "mixed3b"])
    assert torch.equal(got["mixed3a"], clean["mixed3a"])
    moved = (got["mixed3b"] != clean["mixed3b"]).any(0).flatten(1).any(1).nonzero().flatten().tolist()
    assert moved == [200]
    # ... and it is the same value that zeroing 3a:8 everywhere gives the target
    everywhere = run_with_interventions(model, images, [Intervention("mixed3a", "zero", channels=(8,))], ["mixed3b"])
    torch.testing.assert_close(got["mixed3b"][:, 200], everywhere["mixed3b"][:, 200], rtol=0, atol=1e-5)


def test_patching_an_edge_from_another_image(model, images):
    a, b = images[:1], images[1:]
    source = capture(model, a, ["mixed3a"])["mixed3a"]
    e = edge(model, "3a:8", "3b:10", Intervention.patch("-", source))
    got = run_with_interventions(model, b, path_patch(model, b, [e]), ["mixed3b"])
    whole = run_with_interventions(model, b, [Intervention.patch("mixed3a", source, channels=(8,))], ["mixed3b"])
    torch.testing.assert_close(got["mixed3b"][:, 10], whole["mixed3b"][:, 10], rtol=0, atol=1e-5)


def test_edges_that_do_not_exist_are_refused(model, images):
    with pytest.raises(UserError, match="no edge"):
        path_patch(model, images, [edge(model, "3a:5", "4a:3")])


def test_traced_networks_take_interventions_without_leaving_anything_behind():
    net = build_model("torchvision:resnet18", seed=0)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    clean = capture(net, x, ["layer1", "layer2", "fc"])
    same = run_with_interventions(net, x, [Intervention.patch("layer1", clean["layer1"])], ["layer2", "fc"])
    assert torch.equal(same["layer2"], clean["layer2"]) and torch.equal(same["fc"], clean["fc"])
    zeroed = run_with_interventions(net, x, [Intervention("layer1.0.conv1", "zero", channels=(3,))], ["layer1.0.conv1", "fc"])
    assert float(zeroed["layer1.0.conv1"][:, 3].abs().max()) == 0
    assert not torch.equal(zeroed["fc"], clean["fc"])
    assert torch.equal(capture(net, x, ["fc"])["fc"], clean["fc"])  # nothing stayed on the network
    with pytest.raises(UserError, match="GoogLeNet layout"):
        path_patch(net, x, [Edge(parse_unit("layer1.0.conv1:1", net.architecture), parse_unit("layer1.0.conv2:2", net.architecture),
                                 Intervention("-", "zero"))])
