import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthcircuits.errors import AddressError
from synthcircuits.layout import INCEPTIONV1, TORCHVISION_GOOGLENET, parse_unit, unit_at

# Branch ranges copied from the reference table (shared/reference/inceptionv1.md), not from the code.
REFERENCE_BRANCHES = {
    "mixed3a": {"1x1": (0, 63), "3x3": (64, 191), "5x5": (192, 223), "pool_reduce": (224, 255)},
    "mixed3b": {"1x1": (0, 127), "3x3": (128, 319), "5x5": (320, 415), "pool_reduce": (416, 479)},
    "mixed4a": {"1x1": (0, 191), "3x3": (192, 395), "5x5": (396, 443), "pool_reduce": (444, 507)},
    "mixed4b": {"1x1": (0, 159), "3x3": (160, 383), "5x5": (384, 447), "pool_reduce": (448, 511)},
    "mixed4c": {"1x1": (0, 127), "3x3": (128, 383), "5x5": (384, 447), "pool_reduce": (448, 511)},
    "mixed4d": {"1x1": (0, 111), "3x3": (112, 399), "5x5": (400, 463), "pool_reduce": (464, 527)},
    "mixed4e": {"1x1": (0, 255), "3x3": (256, 575), "5x5": (576, 703), "pool_reduce": (704, 831)},
    "mixed5a": {"1x1": (0, 255), "3x3": (256, 575), "5x5": (576, 703), "pool_reduce": (704, 831)},
    "mixed5b": {"1x1": (0, 383), "3x3": (384, 767), "5x5": (768, 895), "pool_reduce": (896, 1023)},
}


def test_paper_shorthand_resolves_to_block_branch_and_local_channel():
    unit = parse_unit("3b:379", INCEPTIONV1)
    assert (unit.layer, unit.channel, unit.branch, unit.local) == ("mixed3b", 379, "5x5", 59)
    assert parse_unit("mixed3b:379", INCEPTIONV1) == unit
    assert parse_unit("mixed3b_5x5:59", INCEPTIONV1) == unit
    assert str(unit) == "mixed3b:379"


@pytest.mark.parametrize("block", sorted(REFERENCE_BRANCHES))
def test_every_channel_maps_to_the_reference_branch_and_round_trips(block):
    for branch, (first, last) in REFERENCE_BRANCHES[block].items():
        for channel in range(first, last + 1):
            unit = parse_unit(f"{block}:{channel}", INCEPTIONV1)
            assert unit.branch == branch and unit.local == channel - first
            assert parse_unit(str(unit), INCEPTIONV1) == unit
            assert parse_unit(f"{block}_{branch}:{channel - first}", INCEPTIONV1) == unit
            assert parse_unit(f"{block.removeprefix('mixed')}:{channel}", INCEPTIONV1) == unit


@given(st.sampled_from(INCEPTIONV1.layers).flatmap(lambda layer: st.tuples(st.just(layer), st.integers(0, layer.channels - 1))))
def test_addresses_round_trip_for_any_layer(layer_and_channel):
    layer, channel = layer_and_channel
    unit = unit_at(layer.name, channel, INCEPTIONV1)
    assert parse_unit(str(unit), INCEPTIONV1) == unit


@pytest.mark.parametrize(
    "text, message",
    [
        ("mixed3b:480", "mixed3b has 480 channels (0-479), not 480"),
        ("3b:-1", "not -1"),
        ("mixed9z:3", "unknown layer 'mixed9z'"),
        ("mixed3b_5x5:96", "branch 5x5 has 96 channels"),
        ("curve", "is not a unit address"),
        ("conv2d0:64", "conv2d0 has 64 channels"),
    ],
)
def test_bad_addresses_say_what_is_wrong(text, message):
    with pytest.raises(AddressError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_unit(text, INCEPTIONV1)


def test_torchvision_layout_has_its_own_names_and_a_512_wide_4a():
    unit = parse_unit("4a:400", TORCHVISION_GOOGLENET)
    assert (unit.layer, unit.branch, unit.local) == ("inception4a", "5x5", 0)
    assert TORCHVISION_GOOGLENET.layer("4a").channels == 512
