"""Any PyTorch CNN as a first-class model: unit addresses, truncated capture, geometry.

`GraphModel` holds a network's own modules (so its state dict keys are the network's own,
`layer4.2.conv3.weight`), applies the preprocessing recorded with its weights inside
`forward` (callers always pass RGB in [0, 1]), and captures any traced node through
torchvision's `create_feature_extractor`, which keeps only the nodes the requested
outputs depend on: asking for `layer2` never runs `layer3`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, fx, nn

from ..layout.architectures import Architecture, Layer
from ..layout.geometry import Geometry
from .graph_trace import UNBOUNDED, Trace, trace_network

PREPROCESSING_KEY = "synthcircuits.preprocessing"


@dataclass(frozen=True)
class Preprocessing:
    """What the network expects of an RGB image in [0, 1]: (x - mean) / std per channel."""

    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def describe(self) -> str:
        return f"RGB in [0, 1], mapped inside the model by (x - {list(self.mean)}) / {list(self.std)}"

    def to_metadata(self) -> str:
        return json.dumps({"mean": list(self.mean), "std": list(self.std)}, sort_keys=True)

    @classmethod
    def from_metadata(cls, text: str) -> Preprocessing:
        """Raises ValueError unless the text holds three finite means and three positive finite stds."""
        data = json.loads(text)
        mean, std = tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["std"])
        if len(mean) != 3 or len(std) != 3 or not all(math.isfinite(v) for v in mean + std) or min(std) <= 0:
            raise ValueError("mean and std need three finite values each, std above 0")
        return cls(mean, std)


IMAGENET = Preprocessing()


class GraphModel(nn.Module):
    """A traced network behind the toolkit's model interface (capture, geometry, addresses)."""

    def __init__(self, net: nn.Module, name: str, preprocessing: Preprocessing = IMAGENET, input_size: int = 224,
                 trace: Trace | None = None):
        super().__init__()
        for child_name, child in net.named_children():
            self.add_module(child_name, child)
        for param_name, param in net.named_parameters(recurse=False):
            self.register_parameter(param_name, param)
        for buffer_name, buffer in net.named_buffers(recurse=False):
            self.register_buffer(buffer_name, buffer)
        # The network itself is not a submodule: its children are ours, so keys stay its own.
        object.__setattr__(self, "net", net)
        self.preprocessing = preprocessing
        self.register_buffer("_mean", torch.tensor(preprocessing.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(preprocessing.std).view(1, 3, 1, 1), persistent=False)
        self.trace = trace or trace_network(net, input_size)
        self.architecture = traced_architecture(name, self.trace, preprocessing, input_size)
        self._geometry = Geometry({k: v for k, v in self.trace.spans().items() if v.lo > -UNBOUNDED})
        self._extractors: dict[frozenset[str], nn.Module] = {}
        self.eval()

    def preprocess(self, x: Tensor) -> Tensor:
        return (x - self._mean) / self._std

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.preprocess(x))

    def hook_points(self) -> dict[str, str]:
        return {layer.name: layer.name for layer in self.architecture.layers}

    def geometry(self) -> Geometry:
        return self._geometry

    def run_tapped(self, images: Tensor, names: Collection[str],
                   rewrite: Mapping[str, Callable[[Tensor], Tensor]] | None = None) -> dict[str, Tensor]:
        """The named nodes' outputs, running only what they (and `rewrite`'s nodes) depend on.

        `rewrite` maps node names to functions applied to that node's output as it is computed;
        every later node reads the rewritten value (run-time interventions). Nothing is left on
        the network: the rewrite lives in this call's interpreter only."""
        rewrite = dict(rewrite or {})
        extractor = self._extractor(frozenset(names) | frozenset(rewrite))
        extractor.train(self.training)
        x = self.preprocess(images)
        out = _RewritingInterpreter(extractor, rewrite).run(x) if rewrite else extractor(x)
        return {name: out[name] for name in names}

    def _extractor(self, key: frozenset[str]) -> fx.GraphModule:
        if key not in self._extractors:
            from torchvision.models.feature_extraction import create_feature_extractor  # 2 s to import: on first use

            self._extractors[key] = create_feature_extractor(self.net, return_nodes={n: n for n in key})
        return self._extractors[key]


class _RewritingInterpreter(fx.Interpreter):
    """Runs an extractor's graph node by node, passing the named nodes' outputs through their
    rewrite functions before anything reads them."""

    def __init__(self, module: fx.GraphModule, rewrite: Mapping[str, Callable[[Tensor], Tensor]]):
        super().__init__(module)
        (returned,) = [n for n in module.graph.nodes if n.op == "output"][0].args
        self.rewrites: dict[fx.Node, list[Callable[[Tensor], Tensor]]] = {}
        for name, function in rewrite.items():
            self.rewrites.setdefault(returned[name], []).append(function)

    def run_node(self, node: fx.Node):
        value = super().run_node(node)
        for function in self.rewrites.get(node, ()):
            value = function(value)
        return value


def traced_architecture(name: str, trace: Trace, preprocessing: Preprocessing, input_size: int) -> Architecture:
    """The layer table of a traced network: its nodes, then module aliases after their last node."""
    by_node: dict[str, list[str]] = {}
    for alias, node in trace.aliases.items():
        by_node.setdefault(node, []).append(alias)
    layers: list[Layer] = []
    for n in trace.nodes:
        layers.append(n.layer)
        for alias in sorted(by_node.get(n.name, ()), key=lambda a: (-a.count("."), a)):
            layers.append(Layer(alias, n.layer.channels, "module", inputs=(n.name,), affine=n.layer.affine,
                                activated=n.layer.activated))
    classifier = next((l.name for l in reversed(layers) if l.kind == "linear"), trace.output)
    return Architecture(
        name, tuple(layers), num_classes=_layer_width(layers, trace.output),
        input_description=preprocessing.describe(), classifier=classifier, key_scheme="modules",
        input_size=input_size, output=trace.output,
    )


def _layer_width(layers: list[Layer], name: str) -> int:
    return next((l.channels for l in layers if l.name == name), 0)
