"""Expanded weights: the effective linear map between units through 1x1 bottlenecks.

As in the Visualizing Weights article, ReLUs are treated as identity. This is the
compiler's inverse: compiling a spec and expanding gives back the spec's weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..layout.architectures import Architecture, Layer
from ..layout.keys import bottleneck_name, conv_name


def expanded_layer_weights(state: Mapping[str, Tensor], arch: Architecture, layer_name: str) -> Tensor:
    """(out channels, in channels, k, k): every unit of `layer_name` on the units that feed it.

    Inception branches are expanded through their bottleneck and centred in the block's
    largest kernel. The pool branch is returned as its 1x1 weights on the pooled input.
    """
    layer = arch.layer(layer_name)
    if not layer.branches:
        return state[f"{conv_name(layer.name)}.weight"].clone()
    size = max(b.kernel for b in layer.branches)
    parts = []
    for branch in layer.branches:
        w = state[f"{conv_name(layer.name, branch.name)}.weight"]
        if branch.bottleneck:
            bottleneck = state[f"{bottleneck_name(layer.name, branch.name)}.weight"][:, :, 0, 0]
            w = torch.einsum("obhw,bi->oihw", w, bottleneck)
        pad = (size - w.shape[-1]) // 2
        parts.append(F.pad(w, (pad, pad, pad, pad)))
    return torch.cat(parts)


def compose(outer: Tensor, inner: Tensor) -> Tensor:
    """Weights of two stride-1 convs in a row (ReLU as identity): (C, A, k1 + k2 - 1, ...).

    `inner` maps A -> B channels with kernel k1, `outer` maps B -> C with kernel k2.
    """
    k2 = outer.shape[-1]
    # Two correlations in a row correlate with the *convolution* of their kernels: run
    # inner's kernels (as A images over B channels) through the flipped outer kernels.
    composed = F.conv2d(inner.transpose(0, 1), outer.flip(-2, -1), padding=k2 - 1)  # (A, C, k1+k2-1, ...)
    return composed.transpose(0, 1).contiguous()


@dataclass(frozen=True)
class IncomingWeights:
    """One unit's weights on the units of an earlier layer: (inputs, k, k), named by `layer:channel`."""

    weights: Tensor
    input_layer: str
    input_channels: tuple[int, ...]
    through: tuple[str, ...] = ()  # the convs the weights were expanded through

    def names(self) -> list[str]:
        return [f"{self.input_layer}:{c}" for c in self.input_channels]


def traced_incoming(state: Mapping[str, Tensor], arch: Architecture, layer_name: str, channel: int, through: int = 0) -> IncomingWeights:
    """A traced network's unit on the layer its conv reads; expanded through a 1x1 bottleneck in
    front of it automatically, and through `through` more stride-1 convs when asked.

    Batch norms scale the expanded weights (their shift is dropped, as ReLUs are treated as
    identity, after the Visualizing Weights article)."""
    conv_layer = _conv_layer(arch, layer_name)
    if not arch.has_layer(conv_layer.inputs[0]):
        raise ValueError(f"{layer_name} reads pixels; its weights are an RGB kernel, not a diagram of units")
    weights, inputs = _rows(state, conv_layer, [channel])
    result = IncomingWeights(weights[0], conv_layer.inputs[0], inputs)
    extra = through
    while True:
        feeder = _feeding_conv(arch, result.input_layer)
        if feeder is None or feeder.groups != 1:
            return result
        bottleneck = feeder.kernel == 1 and (feeder.in_channels or 0) > feeder.channels
        if not bottleneck and extra <= 0:
            return result
        if not bottleneck:
            extra -= 1
        inner, _ = _rows(state, feeder, list(result.input_channels))
        scale = _norm_scale(state, arch.layer(result.input_layer), list(result.input_channels))
        composed = compose(result.weights[None], inner * scale[:, None, None, None])[0]
        result = IncomingWeights(composed, feeder.inputs[0], tuple(range(inner.shape[1])), result.through + (feeder.name,))


def _conv_layer(arch: Architecture, layer_name: str) -> Layer:
    conv = _feeding_conv(arch, layer_name)
    if conv is None:
        layer = arch.layer(layer_name)
        raise ValueError(f"{layer.name} is a {layer.kind} node; its channels are not computed by one conv "
                         "(address a conv, its batch norm or the activation after them)")
    return conv


def _feeding_conv(arch: Architecture, node: str) -> Layer | None:
    """The conv node whose rows compute `node` (through norms and activations), if one does."""
    if not arch.has_layer(node) or not arch.layer(node).affine:  # the image, or an add/cat/pool
        return None
    layer = arch.layer(node)
    return next((l for l in arch.layers if l.kind == "conv" and l.affine[:1] == layer.affine[:1] and l.inputs), None)


def _rows(state: Mapping[str, Tensor], conv: Layer, channels: list[int]) -> tuple[Tensor, tuple[int, ...]]:
    """The conv's weight rows for `channels`, laid out over every input channel (groups expanded)."""
    w = state[f"{conv.affine[0]}.weight"]
    if conv.groups == 1:
        return w[channels].clone(), tuple(range(w.shape[1]))
    per_group_out, per_group_in = w.shape[0] // conv.groups, w.shape[1]
    full = torch.zeros(len(channels), per_group_in * conv.groups, *w.shape[-2:], dtype=w.dtype)
    for i, c in enumerate(channels):
        g = c // per_group_out
        full[i, g * per_group_in : (g + 1) * per_group_in] = w[c]
    return full, tuple(range(full.shape[1]))


def _norm_scale(state: Mapping[str, Tensor], layer: Layer, channels: list[int]) -> Tensor:
    """How the batch norm between a conv and `layer` (if any) scales each channel."""
    if len(layer.affine) < 2:
        return torch.ones(len(channels))
    bn = layer.affine[1]
    gamma, var = state[f"{bn}.weight"][channels], state[f"{bn}.running_var"][channels]
    return gamma / torch.sqrt(var + layer.norm_eps)
