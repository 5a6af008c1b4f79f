"""Built-in traced networks: `torchvision:NAME` and, where timm is installed, `timm:NAME`.

Each entry says how to build the bare network (no downloaded weights: the user's file fills
them in), the image size it was trained at, and its preprocessing. Building on the meta
device gives tensor names, shapes and the traced layer table without allocating weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache

import importlib

import torch
from torch import Tensor, nn

from ..errors import WeightsError
from ..layout.architectures import Architecture
from .graph_model import IMAGENET, GraphModel, Preprocessing, traced_architecture
from .graph_trace import Trace, trace_network


@dataclass(frozen=True)
class NetworkRecipe:
    build: Callable[[], nn.Module]
    input_size: int = 224
    preprocessing: Preprocessing = IMAGENET


def _torchvision(name: str, **kwargs) -> Callable[[], nn.Module]:
    return lambda: getattr(importlib.import_module("torchvision.models"), name)(weights=None, **kwargs)


TORCHVISION_RECIPES: dict[str, NetworkRecipe] = {
    "torchvision:alexnet": NetworkRecipe(_torchvision("alexnet")),
    "torchvision:vgg16": NetworkRecipe(_torchvision("vgg16")),
    "torchvision:resnet18": NetworkRecipe(_torchvision("resnet18")),
    "torchvision:resnet50": NetworkRecipe(_torchvision("resnet50")),
    # The aux heads only train; transform_input is the ImageNet normalisation, applied here by preprocessing.
    "torchvision:googlenet": NetworkRecipe(_torchvision("googlenet", aux_logits=False, transform_input=False, init_weights=True)),
    "torchvision:inception_v3": NetworkRecipe(_torchvision("inception_v3", aux_logits=False, transform_input=False, init_weights=True), 299),
    "torchvision:mobilenet_v2": NetworkRecipe(_torchvision("mobilenet_v2")),
}

# Keys torchvision writes for auxiliary classifiers; they play no part in inference.
AUX_KEY_PARTS = ("aux1.", "aux2.", "AuxLogits.")


def is_traced_name(name: str) -> bool:
    return name.startswith(("torchvision:", "timm:"))


def traced_names() -> list[str]:
    return list(TORCHVISION_RECIPES)


@cache
def recipe(name: str) -> NetworkRecipe:
    if name in TORCHVISION_RECIPES:
        return TORCHVISION_RECIPES[name]
    if name.startswith("timm:"):
        return _timm_recipe(name.removeprefix("timm:"))
    raise WeightsError(f"unknown architecture {name!r}", hint="see `synthcircuits layers --list`")


def _timm_recipe(model_name: str) -> NetworkRecipe:
    try:
        import timm
    except ImportError:
        raise WeightsError(f"timm:{model_name} needs timm, which is not installed", hint="pip install 'synthcircuits[timm]'") from None
    if model_name not in timm.list_models():
        raise WeightsError(f"timm has no model {model_name!r}", hint="timm.list_models() lists them")
    with torch.device("meta"):
        cfg = timm.create_model(model_name, pretrained=False).pretrained_cfg or {}
    size = int(cfg.get("input_size", (3, 224, 224))[-1])
    pre = Preprocessing(tuple(cfg.get("mean", IMAGENET.mean)), tuple(cfg.get("std", IMAGENET.std)))
    return NetworkRecipe(lambda: timm.create_model(model_name, pretrained=False), size, pre)


def _meta_net(name: str) -> nn.Module:
    with torch.device("meta"):
        return recipe(name).build().eval()


@cache
def traced_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a traced network's state dict (no weights allocated, no trace)."""
    return {k: tuple(v.shape) for k, v in _meta_net(name).state_dict().items()}


@cache
def _trace(name: str) -> Trace:
    return trace_network(_meta_net(name), recipe(name).input_size)


@cache
def traced_architecture_of(name: str) -> Architecture:
    r = recipe(name)
    return traced_architecture(name, _trace(name), r.preprocessing, r.input_size)


def traced_model(name: str, *, seed: int | None = None, preprocessing: Preprocessing | None = None) -> GraphModel:
    """A new traced network with random weights (reproducible with `seed`)."""
    r = recipe(name)
    if seed is None:
        net = r.build()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = r.build()
    return GraphModel(net.eval(), name, preprocessing or r.preprocessing, r.input_size, trace=_trace(name))


def traced_from_state_dict(name: str, tensors: Mapping[str, Tensor], preprocessing: Preprocessing | None = None) -> GraphModel:
    """Load checked tensors into a traced network without initialising weights first."""
    r = recipe(name)
    with torch.device("meta"):
        net = r.build()
    net.load_state_dict(dict(tensors), strict=True, assign=True)
    return GraphModel(net.eval(), name, preprocessing or r.preprocessing, r.input_size, trace=_trace(name))


def clean_traced(name: str, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop auxiliary-classifier tensors (torchvision's GoogLeNet and Inception v3 files carry them),
    and supply batch-norm step counters that a file left out (they play no part in inference)."""
    state = {k: v for k, v in tensors.items() if not any(k.startswith(p) for p in AUX_KEY_PARTS)}
    for key, shape in traced_shapes(name).items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros(shape, dtype=torch.long)
    return state
