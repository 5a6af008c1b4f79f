"""Shared fixtures: models with weights the tests make themselves, saved in the real formats."""

from __future__ import annotations

import pytest
import torch

from synthcircuits.models import build_model, save_safetensors, save_torch


@pytest.fixture(scope="session")
def random_inceptionv1():
    return build_model("inceptionv1", seed=1234)


@pytest.fixture(scope="session")
def lucent_weights_file(random_inceptionv1, tmp_path_factory):
    """A random-weights InceptionV1 saved exactly as Lucent's inception5h.pth is: a plain state dict."""
    path = tmp_path_factory.mktemp("weights") / "inception5h.pth"
    return save_torch(random_inceptionv1.state_dict(), path)


@pytest.fixture(scope="session")
def safetensors_weights_file(random_inceptionv1, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "inceptionv1.safetensors"
    return save_safetensors(random_inceptionv1.state_dict(), path)


def bvlc_folder():
    """The real BVLC GoogLeNet weights (shared/data/bvlc_googlenet/weights), if this machine has them."""
    import os
    from pathlib import Path

    candidates = [os.environ.get("SYNTHCIRCUITS_BVLC_DIR"), Path(__file__).resolve().parents[2] / "shared" / "data" / "bvlc_googlenet" / "weights"]
    return next((Path(c) for c in candidates if c and (Path(c) / "conv1").is_dir()), None)


@pytest.fixture(scope="session")
def bvlc_weights(tmp_path_factory):
    """The real trained BVLC GoogLeNet, converted by the same command a user runs."""
    folder = bvlc_folder()
    if folder is None:
        pytest.skip("the real BVLC GoogLeNet weights folder is not on this machine (CI has it)")
    from synthcircuits.cli import main

    out = tmp_path_factory.mktemp("bvlc") / "bvlc_googlenet.safetensors"
    assert main(["weights", "convert", str(folder), "--from", "caffe-bin", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def images():
    return torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(7))
