"""The articles' edge attribution: how much each input unit adds to a unit's pre-activation on
an image, as its expanded weight (through the bottleneck, ReLU as identity) times the input's
activation, summed over the kernel's window.

For a 1x1-branch, pool-branch or plain conv unit the contributions plus the bias are exactly the
pre-activation; through a 3x3/5x5 bottleneck they are its linear view (the bottleneck's ReLU and
biases are left out), and `EdgeAttribution.linear_gap` says how far that view is from the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..layout.address import UnitAddress, unit_at
from ..layout.keys import conv_key, conv_row
from ..layout.topology import feeding_layer
from ..models.capture import capture
from ..models.expanded import expanded_layer_weights
from .paths import input_point, pre_activation_point


@dataclass
class EdgeAttribution:
    """`values`: (N, C_in) each input unit's contribution to `target`'s pre-activation at
    `position` (None: averaged over positions); `pre_activation`: (N,) the true value there."""

    target: UnitAddress
    inputs: tuple[UnitAddress, ...]  # the units of the feeding layer, one per column of `values`
    values: Tensor
    bias: float
    pre_activation: Tensor
    position: tuple[int, int] | None

    @property
    def linear_gap(self) -> Tensor:
        """|sum of contributions + bias - pre-activation| over |pre-activation| (0 for direct edges)."""
        return (self.values.sum(1) + self.bias - self.pre_activation).abs() / self.pre_activation.abs().clamp_min(1e-12)


def edge_attribution(model: nn.Module, images: Tensor, target: UnitAddress, position: tuple[int, int] | None = None) -> EdgeAttribution:
    """Each input unit's contribution to `target` on each image (see the module's doc)."""
    arch = model.architecture
    if getattr(arch, "key_scheme", None) != "googlenet":
        raise UserError(f"edge attribution reads expanded weights of GoogLeNet layouts in Lucent's naming "
                        f"(inceptionv1, bvlc_googlenet), not {arch.name}",
                        hint="use `attribute --method ig` or `gradient`, which work on every network")
    feeder = feeding_layer(arch, target.layer)
    if feeder is None:
        raise UserError(f"{target} reads pixels: its inputs are RGB, not units")
    state = model.state_dict()
    weights = expanded_layer_weights(state, arch, target.layer)[target.channel]  # (C_in, K, K), centred
    point, channel = pre_activation_point(target)
    reads = input_point(arch, target)
    acts = capture(model, images, [reads, point])
    x = acts[reads].detach()
    if target.branch == "pool_reduce":  # the pool branch reads the block's 3x3 max pool of its input
        x = F.max_pool2d(x, 3, stride=1, padding=1)
    k = weights.shape[-1]
    per_channel = F.conv2d(x, weights.unsqueeze(1).to(x), padding=k // 2, groups=x.shape[1])  # (N, C_in, H, W)
    pre = acts[point][:, channel].detach()
    if position is None:
        values, true = per_channel.flatten(2).mean(2), pre.flatten(1).mean(1)
    else:
        y, x_ = position
        if not (0 <= y < pre.shape[-2] and 0 <= x_ < pre.shape[-1]):
            raise UserError(f"{target.layer} is {pre.shape[-2]}x{pre.shape[-1]}; no position ({y}, {x_})")
        values, true = per_channel[:, :, y, x_], pre[:, y, x_]
    inputs = tuple(unit_at(feeder.name, c, arch) for c in range(values.shape[1]))
    bias = float(state[f"{conv_key(target)}.bias"][conv_row(target)])
    return EdgeAttribution(target, inputs, values, bias, true, position)
