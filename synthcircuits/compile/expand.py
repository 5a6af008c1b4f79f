"""Expanded weights: the effective linear map between units through 1x1 bottlenecks.

As in the Visualizing Weights article, ReLUs are treated as identity. This is the
compiler's inverse: compiling a spec and expanding gives back the spec's weights.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.layout import Architecture


def expanded_layer_weights(state: Mapping[str, Tensor], arch: Architecture, layer_name: str) -> Tensor:
    """(out channels, in channels, k, k): every unit of `layer_name` on the units that feed it.

    Inception branches are expanded through their bottleneck and centred in the block's
    largest kernel. The pool branch is returned as its 1x1 weights on the pooled input.
    """
    layer = arch.layer(layer_name)
    if not layer.branches:
        return state[f"{layer.name}_pre_relu_conv.weight"].clone()
    size = max(b.kernel for b in layer.branches)
    parts = []
    for branch in layer.branches:
        w = state[f"{layer.name}_{branch.name}_pre_relu_conv.weight"]
        if branch.bottleneck:
            bottleneck = state[f"{layer.name}_{branch.name}_bottleneck_pre_relu_conv.weight"][:, :, 0, 0]
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
