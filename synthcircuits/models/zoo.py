"""The model zoo: build an architecture by name, recognise a state dict, load a weights file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from .bvlc_googlenet import BVLCGoogLeNet
from .inceptionv1 import InceptionV1
from .torchvision_googlenet import AUX_PREFIXES, TorchvisionGoogLeNet, strip_aux_heads
from .weights import WeightFile, check_shapes, read_weights

MODEL_CLASSES: dict[str, Callable[[], nn.Module]] = {
    "inceptionv1": InceptionV1,
    "torchvision_googlenet": TorchvisionGoogLeNet,
    "bvlc_googlenet": BVLCGoogLeNet,
}

# What each architecture tolerates in a file beyond its own tensors, and how to drop it.
_CLEANERS: dict[str, Callable[[dict[str, Tensor]], dict[str, Tensor]]] = {
    "torchvision_googlenet": strip_aux_heads,
}


def build_model(architecture: str, *, seed: int | None = None) -> nn.Module:
    """A new model in eval mode; with `seed`, its random initial weights are reproducible."""
    cls = _model_class(architecture)
    if seed is None:
        return cls().eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls().eval()


@cache
def expected_shapes(architecture: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of an architecture's state dict (built on the meta device)."""
    with torch.device("meta"):
        model = _model_class(architecture)()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def detect_architecture(tensors: Mapping[str, Tensor]) -> str | None:
    """The architecture whose tensor names these are (shapes are checked later), or None."""
    names = set(tensors)
    for arch in MODEL_CLASSES:
        cleaned = set(_CLEANERS.get(arch, dict)(dict.fromkeys(names)))  # type: ignore[arg-type]
        if cleaned == set(expected_shapes(arch)):
            return arch
    return None


def closest_architecture(tensors: Mapping[str, Tensor]) -> str:
    """The architecture sharing most tensor names with `tensors`, to explain a mismatch."""
    names = set(tensors)
    return max(MODEL_CLASSES, key=lambda arch: len(names & set(expected_shapes(arch))))


def model_from_state_dict(tensors: Mapping[str, Tensor], architecture: str, source: str = "state dict") -> nn.Module:
    """Check the tensors strictly against the architecture, then load them into a new model."""
    cleaned = _CLEANERS.get(architecture, dict)(dict(tensors))
    check_shapes(cleaned, expected_shapes(architecture), source)
    model = build_model(architecture)
    model.load_state_dict(cleaned, strict=True)
    return model.eval()


def load_model(path: str | Path, architecture: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Read a weights file, recognise (or check) its architecture, and return the model."""
    weights = read_weights(path)
    arch = architecture or weights_architecture(weights)
    if arch == "compact":
        return compact_model(weights).to(device)
    if arch == "spliced":
        from ..edit.splice import spliced_from_weights

        return spliced_from_weights(weights.tensors, weights.metadata, "inceptionv1").to(device)
    return model_from_state_dict(weights.tensors, arch, str(path)).to(device)


def compact_model(weights: WeightFile) -> nn.Module:
    """A compact net, shaped by the layout its file's metadata records."""
    from .compact import LAYOUT_KEY, compact_from_metadata

    if LAYOUT_KEY not in weights.metadata:
        raise WeightsError(f"{weights.path}: a compact build must carry {LAYOUT_KEY} metadata; rebuild it with synthcircuits build")
    model = compact_from_metadata(weights.metadata[LAYOUT_KEY])
    check_shapes(weights.tensors, {k: tuple(v.shape) for k, v in model.state_dict().items()}, str(weights.path))
    model.load_state_dict(weights.tensors, strict=True)
    return model.eval()


def weights_architecture(weights: WeightFile) -> str:
    """The architecture a file holds: its metadata's word, else recognised by tensor names."""
    declared = weights.metadata.get("synthcircuits.architecture")
    if declared in MODEL_CLASSES or declared in ("compact", "spliced"):
        return declared
    detected = detect_architecture(weights.tensors)
    if detected:
        return detected
    closest = closest_architecture(weights.tensors)
    check_shapes(_CLEANERS.get(closest, dict)(weights.tensors), expected_shapes(closest), str(weights.path))
    raise WeightsError(f"{weights.path}: tensors match no known architecture")  # unreachable in practice


def has_aux_heads(tensors: Mapping[str, Tensor]) -> bool:
    return any(k.startswith(AUX_PREFIXES) for k in tensors)


def _model_class(architecture: str) -> Callable[[], nn.Module]:
    try:
        return MODEL_CLASSES[architecture]
    except KeyError:
        raise WeightsError(
            f"unknown architecture {architecture!r}", hint=f"choose one of {', '.join(MODEL_CLASSES)}"
        ) from None
