"""Unit-level probing: the activations of units at one spatial position, computing only
what they depend on.

A backward pass finds, for every stage, the rows and columns the units' receptive field
needs; a forward pass then runs each stage in "valid" mode on exactly that region,
padding with the stage's own pad value (0 for convs, -inf for max pools) only where the
region leaves the layer. In the units' own inception block only the branches that hold
them are computed. The numbers equal the full forward's (the tests hold it to that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from ..models.compact import CompactNet
from ..layout.geometry import INCEPTIONV1_WINDOWS, Window, layout_windows
from ..layout.keys import conv_name
from ..models.inceptionv1 import InceptionV1
from ..layout.architectures import INCEPTIONV1, Architecture

Range = tuple[int, int]  # inclusive


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str  # "conv", "pool", "norm", "block"
    window: Window


def supports_unit_probing(model: nn.Module) -> bool:
    return isinstance(model, (InceptionV1, CompactNet))


def unit_activations(model: nn.Module, images: Tensor, layer: str, channels: Sequence[int], position: int) -> Tensor:
    """(N, len(channels)) activations of `layer` at spatial (position, position)."""
    if not supports_unit_probing(model):
        raise UserError(f"unit-level probing supports InceptionV1 and compact nets, not {type(model).__name__}")
    stages = _stages(model, layer)
    branches = _branches_holding(model, layer, channels)
    sizes = _output_sizes(stages, images.shape[-1])
    need = _needed_ranges(_architecture(model), stages, sizes, images.shape[-1], (position, position), branches)
    first_lo, first_hi = need[-1]
    x = model.preprocess(images[..., first_lo : first_hi + 1, first_lo : first_hi + 1].to(next(model.parameters()).device))
    current = (first_lo, first_hi)
    for k, stage in enumerate(stages):
        target = need[k]
        in_size = sizes[k - 1] if k else images.shape[-1]
        if stage.kind == "block":
            x = _block(model, stage, x, current, target, in_size, branches if k == len(stages) - 1 else None)
        else:
            x = _plain(model, stage, x, current, target, in_size)
        current = target
    picked = _select(model, layer, channels, branches) if stages[-1].kind == "block" else list(channels)
    return x[:, picked, 0, 0]


# -- geometry -------------------------------------------------------------------------------


def _architecture(model: nn.Module) -> Architecture:
    return INCEPTIONV1 if isinstance(model, CompactNet) else model.architecture


def _windows(model: nn.Module) -> dict[str, Window]:
    if isinstance(model, CompactNet):
        return INCEPTIONV1_WINDOWS
    return layout_windows(model.architecture, model.FIRST_CONV_PAD)


def _stages(model: nn.Module, layer: str) -> list[Stage]:
    arch, windows = _architecture(model), _windows(model)
    stages = []
    for name, _ in model.stages():
        if name not in windows:
            break
        if isinstance(model, CompactNet) and name in model.convs:
            k = model.convs[name].kernel_size[0]
            window = windows[name] if name == "conv2d0" else Window(k, 1, k // 2, k // 2)
            stages.append(Stage(name, "conv", window))
        else:
            stages.append(Stage(name, arch.layer(name).kind, windows[name]))
        if name == layer:
            return stages
    raise UserError(f"unit-level probing reaches conv, pool, norm and block layers; {layer!r} is not one")


def _output_sizes(stages: list[Stage], size: int) -> list[int]:
    sizes = []
    for s in stages:
        w = s.window
        size = (size + w.pad_before + w.pad_after - w.kernel) // w.stride + 1
        sizes.append(size)
    return sizes


def _input_range(window: Window, out: Range) -> Range:
    return window.stride * out[0] - window.pad_before, window.stride * out[1] - window.pad_before + window.kernel - 1


def _block_reach(arch: Architecture, branches: Sequence[str] | None, name: str) -> int:
    """How far beyond an output position the computed branches read the block input."""
    layer = arch.layer(name)
    kernels = [b.kernel if b.name != "pool_reduce" else 3 for b in layer.branches if branches is None or b.name in branches]
    return max(kernels) // 2


def _needed_ranges(arch: Architecture, stages: list[Stage], sizes: list[int], image_size: int, target: Range, branches: Sequence[str]) -> list[Range]:
    """need[k]: output range of stage k; need[-1] (appended last): the image rows to read."""
    need: list[Range] = [None] * len(stages)  # type: ignore[list-item]
    out = target
    for k in range(len(stages) - 1, -1, -1):
        need[k] = out
        stage = stages[k]
        if stage.kind == "block":
            reach = _block_reach(arch, branches if k == len(stages) - 1 else None, stage.name)
            wanted = (out[0] - reach, out[1] + reach)
        else:
            wanted = _input_range(stage.window, out)
        limit = sizes[k - 1] if k else image_size
        out = (max(wanted[0], 0), min(wanted[1], limit - 1))
    return need + [out]  # the last entry: the image rows and columns to read


# -- evaluation -----------------------------------------------------------------------------


def _fit(x: Tensor, have: Range, want: Range, size: int, value: float) -> Tensor:
    """`x` covers rows/cols `have` of a layer of `size`; return it covering `want`, cropping
    what is surplus and padding with `value` what lies outside the layer."""
    lo = max(want[0], 0)
    hi = min(want[1], size - 1)
    x = x[..., lo - have[0] : hi - have[0] + 1, lo - have[0] : hi - have[0] + 1]
    before, after = lo - want[0], want[1] - hi
    if before or after:
        x = F.pad(x, (before, after, before, after), value=value)
    return x


def _conv_params(model: nn.Module, name: str) -> nn.Conv2d:
    if isinstance(model, CompactNet):
        return model.convs[name]
    return getattr(model, conv_name(name))


def _plain(model: nn.Module, stage: Stage, x: Tensor, have: Range, out: Range, in_size: int) -> Tensor:
    w = stage.window
    if stage.kind == "norm":
        return model.norm(stage.name, _fit(x, have, out, in_size, 0.0))
    want = _input_range(w, out)
    if stage.kind == "pool":
        return F.max_pool2d(_fit(x, have, want, in_size, float("-inf")), w.kernel, w.stride)
    conv = _conv_params(model, stage.name)
    return F.relu(F.conv2d(_fit(x, have, want, in_size, 0.0), conv.weight, conv.bias, stride=w.stride))


def _block(model: nn.Module, stage: Stage, x: Tensor, have: Range, out: Range, size: int, branches: Sequence[str] | None) -> Tensor:
    name = stage.name
    layer = _architecture(model).layer(name)
    parts = []

    def conv(part: str, h: Tensor) -> Tensor:
        c = _conv_params(model, f"{name}_{part}")
        return F.relu(F.conv2d(h, c.weight, c.bias))

    for branch in layer.branches:
        if branches is not None and branch.name not in branches:
            continue
        if branch.name == "1x1":
            parts.append(conv("1x1", _fit(x, have, out, size, 0.0)))
        elif branch.name == "pool_reduce":
            pooled = F.max_pool2d(_fit(x, have, (out[0] - 1, out[1] + 1), size, float("-inf")), 3, 1)
            parts.append(conv("pool_reduce", pooled))
        else:
            r = branch.kernel // 2
            inside = (max(out[0] - r, 0), min(out[1] + r, size - 1))  # the bottleneck exists only inside the layer
            bottleneck = conv(f"{branch.name}_bottleneck", _fit(x, have, inside, size, 0.0))
            parts.append(conv(branch.name, _fit(bottleneck, inside, (out[0] - r, out[1] + r), size, 0.0)))
    return torch.cat(parts, 1)


def _branches_holding(model: nn.Module, layer: str, channels: Sequence[int]) -> list[str]:
    arch_layer = _architecture(model).layer(layer)
    if isinstance(model, CompactNet) or not arch_layer.branches:
        return []
    return [b.name for b in arch_layer.branches if any(b.start <= c < b.stop for c in channels)]


def _select(model: nn.Module, layer: str, channels: Sequence[int], branches: Sequence[str]) -> list[int]:
    """Positions of `channels` in the concatenation of only the computed branches."""
    offset, where = 0, {}
    for b in _architecture(model).layer(layer).branches:
        if b.name in branches:
            for c in range(b.start, b.stop):
                where[c] = offset + c - b.start
            offset += b.width
    return [where[c] for c in channels]
