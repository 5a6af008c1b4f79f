"""The model zoo: every architecture by name, recognising a state dict, loading a weights file.

Two kinds of architecture live here behind one set of functions: the hand-written GoogLeNet
layouts (`inceptionv1`, `bvlc_googlenet`, `torchvision_googlenet`) and traced networks
(`torchvision:resnet50`, `timm:NAME`, see `catalog`). Compact builds carry their own layout
in their metadata. Spliced models are opened a level up (`synthcircuits.opened`), since
they wrap a compiled circuit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from ..layout.architectures import ARCHITECTURES, Architecture
from .bvlc_googlenet import BVLCGoogLeNet
from .catalog import (
    clean_traced, is_traced_name, traced_architecture_of, traced_from_state_dict, traced_model, traced_names,
    traced_shapes,
)
from .graph_model import PREPROCESSING_KEY, Preprocessing
from .inceptionv1 import InceptionV1
from .weights import WeightFile, check_shapes, read_weights

# Keys torchvision writes for GoogLeNet's auxiliary classifiers; they play no part in inference.
AUX_PREFIXES = ("aux1.", "aux2.")


def strip_aux_heads(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Drop torchvision's auxiliary-classifier tensors, which inference never uses."""
    return {k: v for k, v in state.items() if not k.startswith(AUX_PREFIXES)}


def _torchvision_googlenet() -> nn.Module:
    """Imported on first use: torchvision takes about 2 s to import, which commands on the
    other layouts should not pay."""
    from .torchvision_googlenet import TorchvisionGoogLeNet

    return TorchvisionGoogLeNet()


MODEL_CLASSES: dict[str, Callable[[], nn.Module]] = {
    "inceptionv1": InceptionV1,
    "torchvision_googlenet": _torchvision_googlenet,
    "bvlc_googlenet": BVLCGoogLeNet,
}

# What each architecture tolerates in a file beyond its own tensors, and how to drop it.
_CLEANERS: dict[str, Callable[[dict[str, Tensor]], dict[str, Tensor]]] = {
    "torchvision_googlenet": strip_aux_heads,
}
ARCHITECTURE_KEY = "synthcircuits.architecture"


def architecture_names() -> list[str]:
    """Every architecture a weights file or `--arch` may name."""
    return list(MODEL_CLASSES) + traced_names()


def architecture_named(name: str) -> Architecture:
    """The layer table of any architecture (traced ones are traced on the meta device, once)."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    if is_traced_name(name):
        return traced_architecture_of(name)
    raise WeightsError(f"unknown architecture {name!r}", hint="known: " + ", ".join(architecture_names()) + ", timm:NAME")


def build_model(architecture: str, *, seed: int | None = None) -> nn.Module:
    """A new model in eval mode; with `seed`, its random initial weights are reproducible."""
    if is_traced_name(architecture):
        return traced_model(architecture, seed=seed)
    cls = _model_class(architecture)
    if seed is None:
        return cls().eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls().eval()


@cache
def expected_shapes(architecture: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of an architecture's state dict (built on the meta device)."""
    if is_traced_name(architecture):
        return traced_shapes(architecture)
    with torch.device("meta"):
        model = _model_class(architecture)()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _cleaned(architecture: str, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    if is_traced_name(architecture):
        return clean_traced(architecture, tensors)
    return _CLEANERS.get(architecture, dict)(dict(tensors))


@dataclass(frozen=True)
class Fit:
    """How well a set of tensors fits one architecture."""

    architecture: str
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    misshaped: tuple[str, ...]
    matched: int

    @property
    def exact(self) -> bool:
        return not (self.missing or self.unexpected or self.misshaped)


def fit(tensors: Mapping[str, Tensor], architecture: str) -> Fit:
    expected = expected_shapes(architecture)
    cleaned = _cleaned(architecture, tensors)
    missing = tuple(k for k in expected if k not in cleaned)
    unexpected = tuple(k for k in cleaned if k not in expected)
    misshaped = tuple(k for k in expected if k in cleaned and tuple(cleaned[k].shape) != tuple(expected[k]))
    return Fit(architecture, missing, unexpected, misshaped, sum(1 for k in expected if k in cleaned) - len(misshaped))


def fits(tensors: Mapping[str, Tensor]) -> list[Fit]:
    """Every built-in architecture, best fit first."""
    return sorted((fit(tensors, a) for a in architecture_names()), key=lambda f: (not f.exact, -f.matched, len(f.unexpected)))


def detect_architecture(tensors: Mapping[str, Tensor]) -> str | None:
    """The architecture whose tensors these are (names and shapes), or None. The hand-written
    layouts are tried first, on their own: building the others means importing torchvision."""
    for name in ("inceptionv1", "bvlc_googlenet"):
        if fit(tensors, name).exact:
            return name
    best = fits(tensors)[0]
    return best.architecture if best.exact else None


def model_from_state_dict(tensors: Mapping[str, Tensor], architecture: str, source: str = "state dict",
                          preprocessing: Preprocessing | None = None) -> nn.Module:
    """Check the tensors strictly against the architecture, then load them into a new model."""
    cleaned = _cleaned(architecture, tensors)
    check_shapes(cleaned, expected_shapes(architecture), f"{source}: the tensors do not fit {architecture}")
    if is_traced_name(architecture):
        return traced_from_state_dict(architecture, cleaned, preprocessing)
    model = build_model(architecture)
    model.load_state_dict(cleaned, strict=True)
    return model.eval()


def load_model(path: str | Path, architecture: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Read a weights file, recognise (or check) its architecture, and return the model."""
    return model_from_file(read_weights(path), architecture, device)


def model_from_file(weights: WeightFile, architecture: str | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """The model a read weights file holds (its architecture recognised, or the one given)."""
    arch = architecture or weights_architecture(weights)
    if arch == "compact":
        return compact_model(weights).to(device)
    if arch == "spliced":
        raise WeightsError(f"{weights.path}: a spliced model wraps a compiled circuit; open it with synthcircuits.commands.common.open_model")
    return model_from_state_dict(weights.tensors, arch, str(weights.path), _preprocessing(weights)).to(device)


def _preprocessing(weights: WeightFile) -> Preprocessing | None:
    text = weights.metadata.get(PREPROCESSING_KEY)
    if text is None:
        return None
    try:
        return Preprocessing.from_metadata(text)
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"{weights.path}: its {PREPROCESSING_KEY} metadata is not {{\"mean\": [r, g, b], \"std\": [r, g, b]}}",
                           hint="rewrite the file with weights_metadata(model), or remove that metadata key") from None


def compact_model(weights: WeightFile) -> nn.Module:
    """A compact net, shaped by the layout its file's metadata records."""
    from .compact import LAYOUT_KEY, compact_from_metadata

    if LAYOUT_KEY not in weights.metadata:
        raise WeightsError(f"{weights.path}: a compact build must carry {LAYOUT_KEY} metadata; rebuild it with synthcircuits build")
    model = compact_from_metadata(weights.metadata[LAYOUT_KEY], str(weights.path))
    check_shapes(weights.tensors, {k: tuple(v.shape) for k, v in model.state_dict().items()},
                 f"{weights.path}: the tensors do not fit the compact layout its metadata describes")
    model.load_state_dict(weights.tensors, strict=True)
    return model.eval()


def weights_architecture(weights: WeightFile) -> str:
    """The architecture a file holds: its metadata's word, else recognised by tensor names and shapes."""
    declared = weights.metadata.get(ARCHITECTURE_KEY)
    if declared in ("compact", "spliced") or (declared and (declared in MODEL_CLASSES or is_traced_name(declared))):
        return declared
    found = detect_architecture(weights.tensors)
    if found:
        return found
    best = fits(weights.tensors)[0]
    described = f"{weights.path} ({weights.format}, {len(weights.tensors):,} tensors, {weights.parameter_count:,} parameters)"
    check_shapes(_cleaned(best.architecture, weights.tensors), expected_shapes(best.architecture),
                 f"{described} fits none of the known architectures; the closest is {best.architecture}")
    raise AssertionError("check_shapes accepts only exact fits")


def weights_metadata(model: nn.Module) -> dict[str, str]:
    """What a file of this model's weights records so it loads back the same."""
    meta = {ARCHITECTURE_KEY: model.architecture.name}
    preprocessing = getattr(model, "preprocessing", None)
    if isinstance(preprocessing, Preprocessing):
        meta[PREPROCESSING_KEY] = preprocessing.to_metadata()
    return meta


def has_aux_heads(tensors: Mapping[str, Tensor]) -> bool:
    return any(k.startswith(AUX_PREFIXES) for k in tensors)


def _model_class(architecture: str) -> Callable[[], nn.Module]:
    try:
        return MODEL_CLASSES[architecture]
    except KeyError:
        raise WeightsError(
            f"unknown architecture {architecture!r}", hint=f"choose one of {', '.join(architecture_names())}"
        ) from None
