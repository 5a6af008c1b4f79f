"""InceptionV1 as the Circuits papers use it (Lucid's "inception5h"), with Lucent's weight names.

Input: RGB in [0, 1], NCHW. `preprocess` maps it by `x * 255 - 117` inside the model, so
callers never guess the convention. `forward` returns the 1008 logits
(`softmax2_pre_activation_matmul`); `softmax2` is a hook point.

The module is built from its layout (`layout/architectures.py`): every conv is `<name>_pre_relu_conv`,
blocks have four branches. Subclasses with the same shape but other padding, pooling or
normalisation (Caffe's BVLC GoogLeNet) override the few class attributes below.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layout.architectures import INCEPTIONV1, Architecture, Layer
from ..layout.geometry import Geometry, layout_windows
from ..layout.keys import conv_name
from .staged import NO_TAP, Stage, Tap, block_hook_points, inception_block, relu_with_taps, run_stages

LRN = dict(size=9, alpha=9.99999974738e-05, beta=0.5, k=1.0)


def max_pool_3x3_s2(x: Tensor) -> Tensor:
    """TF-style 'SAME' 3x3 stride-2 max pool: pad right/bottom by one with -inf."""
    return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)


def local_response_norm(x: Tensor, size: int, alpha: float, beta: float, k: float) -> Tensor:
    """`F.local_response_norm` for NCHW maps, summing the channel window as shifted slices:
    the same numbers up to float rounding, at half the time forward and backward on a CPU
    (torch's version goes through a 3-D average pool)."""
    squares = F.pad(x * x, (0, 0, 0, 0, size // 2, (size - 1) // 2))
    channels = x.shape[1]
    window = squares[:, :channels]
    for shift in range(1, size):
        window = window + squares[:, shift : shift + channels]
    return x / (window * (alpha / size) + k) ** beta


def max_pool_3x3_s1(x: Tensor) -> Tensor:
    return F.max_pool2d(x, 3, 1, padding=1)


def layout_convs(arch: Architecture) -> list[tuple[str, int, int, int, int]]:
    """(name, in, out, kernel, stride) of every conv the layout implies, in forward order."""
    convs = []
    for i, layer in enumerate(l for l in arch.layers if l.kind in ("conv", "block")):
        if layer.kind == "conv":
            convs.append((layer.name, layer.in_channels, layer.channels, layer.kernel, 2 if i == 0 else 1))
            continue
        for b in layer.branches:
            if b.bottleneck:
                convs.append((f"{layer.name}_{b.name}_bottleneck", layer.in_channels, b.bottleneck, 1, 1))
        for b in layer.branches:
            convs.append((f"{layer.name}_{b.name}", b.bottleneck or layer.in_channels, b.width, b.kernel, 1))
    return convs


class InceptionV1(nn.Module):
    architecture: Architecture = INCEPTIONV1
    FIRST_CONV_PAD = (2, 3, 2, 3)  # TF 'SAME' for a 7x7 stride-2 conv at 224
    LRN = LRN

    def __init__(self) -> None:
        super().__init__()
        first = self.architecture.layers[0].name
        for name, cin, cout, k, stride in layout_convs(self.architecture):
            pad = 0 if k == 1 or name == first else k // 2
            self.add_module(conv_name(name), nn.Conv2d(cin, cout, k, stride, padding=pad))
        classifier = self.architecture.layer(self.architecture.classifier)
        self.add_module(self.architecture.classifier, nn.Linear(classifier.in_channels, classifier.channels))

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """[0, 1] RGB -> the range the original graph was trained on ([-117, 138])."""
        return x * 255.0 - 117.0

    @classmethod
    def norm(cls, name: str, x: Tensor) -> Tensor:
        """Local response normalisation across neighbouring channels."""
        return local_response_norm(x, **cls.LRN)

    @staticmethod
    def pool(x: Tensor) -> Tensor:
        """The 3x3 stride-2 max pool between stages."""
        return max_pool_3x3_s2(x)

    def conv(self, name: str, x: Tensor) -> Tensor:
        """Pre-activation of the conv called `name` (e.g. `mixed3b_5x5`)."""
        return getattr(self, conv_name(name))(x)

    def forward(self, x: Tensor) -> Tensor:
        return run_stages(self, x, NO_TAP, self.architecture.classifier)

    # -- stages -----------------------------------------------------------------------
    def stages(self) -> Sequence[tuple[str, Stage]]:
        return [(layer.name, self._stage(i, layer)) for i, layer in enumerate(self.architecture.layers)]

    def _stage(self, index: int, layer: Layer) -> Stage:
        if layer.kind == "conv":
            return partial(self._first_conv if index == 0 else self._plain_conv, layer.name)
        if layer.kind == "block":
            return partial(self._block, layer.name)
        if layer.kind == "norm":
            return lambda x, tap, name=layer.name: self.norm(name, x)
        if layer.kind == "pool":
            following = self.architecture.layers[index + 1].kind if index + 1 < len(self.architecture.layers) else None
            if following == "linear":  # the global average pool before the classifier
                return lambda x, tap: x.mean((2, 3), keepdim=True)
            return lambda x, tap: self.pool(x)
        if layer.kind == "linear":
            return lambda x, tap: getattr(self, layer.name)(torch.flatten(x, 1))
        return lambda x, tap: F.softmax(x, dim=1)

    def geometry(self) -> Geometry:
        """Receptive fields and layer sizes of the stages."""
        return _geometry(self.architecture, self.FIRST_CONV_PAD)

    def hook_points(self) -> dict[str, str]:
        """Every capturable name, mapped to the stage that produces it."""
        points: dict[str, str] = {}
        for layer in self.architecture.layers:
            points[layer.name] = layer.name
            if layer.kind in ("conv", "block"):
                points[f"{layer.name}_pre_relu"] = layer.name
            if layer.kind == "block":
                points.update(block_hook_points(layer.name))
        return points

    def _first_conv(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return relu_with_taps(name, self.conv(name, F.pad(x, self.FIRST_CONV_PAD)), tap)

    def _plain_conv(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return relu_with_taps(name, self.conv(name, x), tap)

    def _block(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return inception_block(name, x, tap, lambda part, h: self.conv(f"{name}_{part}", h), max_pool_3x3_s1)


@cache
def _geometry(arch: Architecture, first_conv_pad: tuple[int, int, int, int]) -> Geometry:
    return Geometry.from_windows(layout_windows(arch, first_conv_pad))
