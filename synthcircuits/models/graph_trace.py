"""A traced network's layer table and receptive fields, read off its torch.fx graph.

torchvision's feature-extraction tracer names every node by its module path
(`layer4.2.conv3`, `features.28`, `layer1.0.add`). Each node with an image-shaped output
becomes a `Layer`; each module holding such nodes (`layer4`, `layer4.2`) becomes an alias
for its last node, as `create_feature_extractor` treats it. Spans follow convs and pools
(kernel, stride, padding, dilation); pointwise ops and merges (add, cat) take the union of
their inputs; anything that mixes all positions (global pools, squeeze-excitation) or that
is not understood makes the span unbounded, and unit-level probing then falls back to a
full forward.
"""

from __future__ import annotations

import inspect
import math
import operator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..layout.architectures import Layer
from ..layout.geometry import SizeStep, Span

UNBOUNDED = 10**9

_POINTWISE_MODULES = (
    nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Dropout, nn.Dropout2d, nn.Identity, nn.Hardswish, nn.SiLU, nn.GELU,
    nn.Sigmoid, nn.Hardsigmoid, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.LocalResponseNorm, nn.GroupNorm,
)
_POINTWISE_FUNCTIONS = {
    operator.add, operator.mul, operator.sub, operator.truediv, torch.add, torch.mul, torch.cat, torch.relu,
    F.relu, F.relu6, F.dropout, F.hardswish, F.silu, F.gelu, torch.sigmoid, torch.tanh, F.batch_norm,
    F.local_response_norm,
}
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.LeakyReLU, nn.ELU)
_KINDS = {nn.Conv2d: "conv", nn.BatchNorm2d: "norm", nn.MaxPool2d: "pool", nn.AvgPool2d: "pool", nn.Linear: "linear"}


@dataclass(frozen=True)
class TracedNode:
    name: str  # module path, e.g. layer4.2.conv3
    layer: Layer
    span: Span | None  # None: no spatial extent (a vector)


@dataclass(frozen=True)
class Trace:
    nodes: tuple[TracedNode, ...]
    aliases: dict[str, str]  # module path -> its last node's name
    output: str  # the node the network returns (the logits)

    def spans(self) -> dict[str, Span]:
        spans = {n.name: n.span for n in self.nodes if n.span is not None}
        spans.update({alias: spans[node] for alias, node in self.aliases.items() if node in spans})
        return spans


def tracer_settings() -> dict:
    """What create_feature_extractor traces with by default (math and torchvision.ops wrapped,
    torchvision.ops' modules kept whole), written out with public names only; tests/test_architectures.py
    holds it to torchvision's own defaults."""
    import torchvision.ops

    leaves = [obj for _, obj in inspect.getmembers(torchvision.ops) if inspect.isclass(obj) and issubclass(obj, nn.Module)]
    return {"autowrap_modules": (math, torchvision.ops), "leaf_modules": leaves}


def trace_network(net: nn.Module, input_size: int) -> Trace:
    """Trace `net` (eval mode) and read its layers and spans; runs it once on a blank image."""
    # The same tracer settings as create_feature_extractor, so node names agree with capture's.
    from torchvision.models import feature_extraction  # 2 s to import: only when a network is traced

    tracer = feature_extraction.NodePathTracer(**tracer_settings())
    was_training = net.training
    net.eval()
    graph = tracer.trace(net)
    names = {node: tracer.node_to_qualname[node] for node in graph.nodes if node in tracer.node_to_qualname}
    shapes = _shapes(net, graph, input_size)
    nodes: list[TracedNode] = []
    made: dict[str, Layer] = {}
    spans: dict[fx.Node, Span | None] = {}
    output = ""
    for node in graph.nodes:
        if node.op == "placeholder":
            spans[node] = Span(1, 0, 0, ())
            continue
        if node.op == "output":
            output = names.get(node.args[0], "") if isinstance(node.args[0], fx.Node) else ""
            continue
        shape = shapes.get(node)
        spans[node] = _span(net, node, spans, shapes) if shape is not None and len(shape) == 4 else None
        if shape is None or len(shape) not in (2, 4) or node not in names:
            continue
        layer = _layer(net, node, names, shape, made)
        made[layer.name] = layer
        nodes.append(TracedNode(names[node], layer, spans[node]))
    net.train(was_training)
    return Trace(tuple(nodes), _aliases(nodes), output or nodes[-1].name)


def _shapes(net: nn.Module, graph: fx.Graph, size: int) -> dict[fx.Node, tuple[int, ...]]:
    """Output shape of every node, from one forward of a blank image (interpreted node by node)."""
    module = fx.GraphModule(net, graph)
    shapes: dict[fx.Node, tuple[int, ...]] = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n: fx.Node):
            value = super().run_node(n)
            if isinstance(value, torch.Tensor):
                shapes[n] = tuple(value.shape)
            return value

    with torch.no_grad():
        Recorder(module).run(torch.zeros(1, 3, size, size, device=_device(net)))
    return shapes


def _device(net: nn.Module) -> torch.device:
    return next((p.device for p in net.parameters()), torch.device("cpu"))


def _layer(net: nn.Module, node: fx.Node, names: dict[fx.Node, str], shape: tuple[int, ...], made: dict[str, Layer]) -> Layer:
    inputs = tuple(names[a] for a in node.all_input_nodes if a in names)
    name = names[node]
    if node.op == "call_module":
        module = net.get_submodule(node.target)
        convs = [(p, m) for p, m in module.named_modules() if isinstance(m, nn.Conv2d)]
        if len(convs) == 1:  # a conv, or a leaf block such as Conv2dNormActivation (conv, norm, activation)
            path, conv = convs[0]
            norms = [(p, m) for p, m in module.named_modules() if isinstance(m, nn.BatchNorm2d)]
            affine = tuple(".".join(filter(None, (node.target, p))) for p in [path] + [p for p, _ in norms[:1]])
            activated = any(isinstance(m, _ACTIVATIONS) for m in module.modules())
            return Layer(name, shape[1], "conv", in_channels=conv.in_channels, kernel=max(conv.kernel_size),
                         groups=conv.groups, inputs=inputs, affine=affine, activated=activated,
                         norm_eps=float(norms[0][1].eps) if norms else 1e-5)
        kind = next((k for cls, k in _KINDS.items() if isinstance(module, cls)), "op")
        if isinstance(module, _ACTIVATIONS):
            kind = "relu"
        return _inherit(Layer(name, shape[1], kind, inputs=inputs), module, node.target, made)
    kind = {operator.add: "add", torch.add: "add", torch.cat: "cat", F.relu: "relu", torch.relu: "relu"}.get(node.target, "op")
    if len(shape) == 2 and kind == "op":
        kind = "vector"
    return _inherit(Layer(name, shape[1], kind, inputs=inputs), None, None, made)


def _inherit(layer: Layer, module: nn.Module | None, path, made: dict[str, Layer]) -> Layer:
    """A batch norm or activation right after a conv computes the same channels: it inherits
    the conv's rows (plus its own, for a norm)."""
    if len(layer.inputs) != 1 or layer.inputs[0] not in made:
        return layer
    source = made[layer.inputs[0]]
    if not source.affine:
        return layer
    if layer.kind == "norm" and not source.activated and len(source.affine) == 1:
        return replace(layer, affine=source.affine + (path,), norm_eps=float(getattr(module, "eps", 1e-5)))
    if layer.kind == "relu" or isinstance(module, (nn.Dropout, nn.Identity)):
        return replace(layer, affine=source.affine, activated=source.activated or layer.kind == "relu", norm_eps=source.norm_eps)
    return layer


def _aliases(nodes: list[TracedNode]) -> dict[str, str]:
    """Each enclosing module path -> the last node inside it (what the module returns)."""
    aliases: dict[str, str] = {}
    known = {n.name for n in nodes}
    for n in nodes:
        parts = n.name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in known:
                aliases[prefix] = n.name
    return aliases


def _windows_of(net: nn.Module, node: fx.Node) -> list[tuple[int, int, int, int, int, bool]] | None:
    """The (kernel, stride, pad before, pad after, dilation, ceil) windows a node applies in order
    ([] for pointwise modules), or None where the node is not a conv, pool or chain of them."""
    if node.op == "call_module":
        return _module_windows(net.get_submodule(node.target))
    if node.target in (F.max_pool2d, F.avg_pool2d, torch.max_pool2d):
        args = list(node.args[1:]) + [None] * 4
        kw = node.kwargs
        k = _first(kw.get("kernel_size", args[0]))
        s = _first(kw.get("stride", args[1]) or k)
        p = _first(kw.get("padding", args[2] if args[2] is not None else 0))
        return [(k, s, p, p, 1, bool(kw.get("ceil_mode", False)))]
    return None


def _module_windows(m: nn.Module) -> list[tuple[int, int, int, int, int, bool]] | None:
    if isinstance(m, nn.Conv2d):
        # Non-square kernels (inception_v3's 1x7/7x1) use the larger side: a square that covers both.
        k, s, d = max(m.kernel_size), m.stride[0], max(m.dilation)
        if isinstance(m.padding, str):
            total = 0 if m.padding == "valid" else d * (k - 1)
            return [(k, s, total // 2, total - total // 2, d, False)]
        p = max(m.padding)
        return [(k, s, p, p, d, False)]
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = (_first(v) for v in (m.kernel_size, m.stride or m.kernel_size, m.padding))
        return [(k, s, p, p, _first(getattr(m, "dilation", 1)), bool(m.ceil_mode))]
    if isinstance(m, _POINTWISE_MODULES):
        return []
    if isinstance(m, nn.Sequential):
        windows: list = []
        for child in m:
            inner = _module_windows(child)
            if inner is None:
                return None
            windows += inner
        return windows
    return None


def _first(value) -> int:
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def _span(net: nn.Module, node: fx.Node, spans: dict[fx.Node, Span | None], shapes) -> Span:
    inputs = [spans.get(a) for a in node.all_input_nodes if spans.get(a) is not None]
    if not inputs:
        return Span(1, -UNBOUNDED, UNBOUNDED)
    windows = _windows_of(net, node)
    if windows:
        span = inputs[0]
        for k, s, before, after, d, ceil in windows:
            reach = d * (k - 1) + 1
            span = Span(span.jump * s, span.lo - before * span.jump, span.hi + (reach - 1 - before) * span.jump,
                        span.steps + (SizeStep(reach, s, before + after, ceil),))
        return span
    same_size = all(shapes.get(a, (0,))[-2:] == shapes[node][-2:] for a in node.all_input_nodes if len(shapes.get(a, ())) == 4)
    if (windows == [] or _pointwise(net, node)) and same_size:
        jumps = {i.jump for i in inputs}
        if len(jumps) == 1:
            return Span(jumps.pop(), min(i.lo for i in inputs), max(i.hi for i in inputs), inputs[0].steps)
    return Span(inputs[0].jump, -UNBOUNDED, UNBOUNDED, inputs[0].steps)


def _pointwise(net: nn.Module, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(net.get_submodule(node.target), _POINTWISE_MODULES)
    if node.op == "call_method":
        return node.target in ("relu", "relu_", "add", "add_", "mul", "mul_", "contiguous", "clone")
    return node.target in _POINTWISE_FUNCTIONS
