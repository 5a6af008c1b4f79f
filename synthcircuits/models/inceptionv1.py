"""InceptionV1 as the Circuits papers use it (Lucid's "inception5h"), with Lucent's weight names.

Input: RGB in [0, 1], NCHW. `preprocess` maps it by `x * 255 - 117` inside the model, so
callers never guess the convention. `forward` returns the 1008 logits
(`softmax2_pre_activation_matmul`); `softmax2` is a hook point.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layout import INCEPTIONV1, INCEPTIONV1_BLOCKS, Architecture
from .staged import NO_TAP, Stage, Tap, block_hook_points, inception_block, relu_with_taps, run_stages

LRN = dict(size=9, alpha=9.99999974738e-05, beta=0.5, k=1.0)


def inceptionv1_convs() -> list[tuple[str, int, int, int, int]]:
    """(name, in, out, kernel, stride) of every conv, in Lucent's order."""
    convs = [("conv2d0", 3, 64, 7, 2), ("conv2d1", 64, 64, 1, 1), ("conv2d2", 64, 192, 3, 1)]
    channels = 192
    for name, w in INCEPTIONV1_BLOCKS.items():
        convs += [
            (f"{name}_1x1", channels, w.n1x1, 1, 1),
            (f"{name}_3x3_bottleneck", channels, w.n3x3_bottleneck, 1, 1),
            (f"{name}_5x5_bottleneck", channels, w.n5x5_bottleneck, 1, 1),
            (f"{name}_pool_reduce", channels, w.pool_reduce, 1, 1),
            (f"{name}_3x3", w.n3x3_bottleneck, w.n3x3, 3, 1),
            (f"{name}_5x5", w.n5x5_bottleneck, w.n5x5, 5, 1),
        ]
        channels = w.out_channels
    return convs


def max_pool_3x3_s2(x: Tensor) -> Tensor:
    """TF-style 'SAME' 3x3 stride-2 max pool: pad right/bottom by one with -inf."""
    return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 3, 2)


def max_pool_3x3_s1(x: Tensor) -> Tensor:
    return F.max_pool2d(x, 3, 1, padding=1)


class InceptionV1(nn.Module):
    architecture: Architecture = INCEPTIONV1

    def __init__(self) -> None:
        super().__init__()
        for name, cin, cout, k, stride in inceptionv1_convs():
            pad = 0 if k == 1 or name == "conv2d0" else k // 2
            self.add_module(f"{name}_pre_relu_conv", nn.Conv2d(cin, cout, k, stride, padding=pad))
        self.softmax2_pre_activation_matmul = nn.Linear(1024, 1008)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """[0, 1] RGB -> the range the original graph was trained on ([-117, 138])."""
        return x * 255.0 - 117.0

    @staticmethod
    def norm(name: str, x: Tensor) -> Tensor:
        """Local response normalisation across 9 neighbouring channels."""
        return F.local_response_norm(x, **LRN)

    def conv(self, name: str, x: Tensor) -> Tensor:
        """Pre-activation of the conv called `name` (Lucid name, e.g. `mixed3b_5x5`)."""
        return getattr(self, f"{name}_pre_relu_conv")(x)

    def forward(self, x: Tensor) -> Tensor:
        return run_stages(self, x, NO_TAP, "softmax2_pre_activation_matmul")

    # -- stages -----------------------------------------------------------------------
    def stages(self) -> Sequence[tuple[str, Stage]]:
        stages: list[tuple[str, Stage]] = [
            ("conv2d0", self._conv2d0),
            ("maxpool0", lambda x, tap: max_pool_3x3_s2(x)),
            ("localresponsenorm0", lambda x, tap: self.norm("localresponsenorm0", x)),
            ("conv2d1", partial(self._plain_conv, "conv2d1")),
            ("conv2d2", partial(self._plain_conv, "conv2d2")),
            ("localresponsenorm1", lambda x, tap: self.norm("localresponsenorm1", x)),
            ("maxpool1", lambda x, tap: max_pool_3x3_s2(x)),
        ]
        for name in INCEPTIONV1_BLOCKS:
            if name == "mixed4a":
                stages.append(("maxpool4", lambda x, tap: max_pool_3x3_s2(x)))
            if name == "mixed5a":
                stages.append(("maxpool10", lambda x, tap: max_pool_3x3_s2(x)))
            stages.append((name, partial(self._block, name)))
        stages += [
            ("avgpool0", lambda x, tap: x.mean((2, 3), keepdim=True)),
            ("softmax2_pre_activation_matmul", self._logits),
            ("softmax2", lambda x, tap: F.softmax(x, dim=1)),
        ]
        return stages

    def hook_points(self) -> dict[str, str]:
        """Every capturable name, mapped to the stage that produces it."""
        points: dict[str, str] = {}
        for name, _ in self.stages():
            points[name] = name
            if name.startswith(("conv2d", "mixed")):
                points[f"{name}_pre_relu"] = name
            if name.startswith("mixed"):
                points.update(block_hook_points(name))
        return points

    def _conv2d0(self, x: Tensor, tap: Tap) -> Tensor:
        return relu_with_taps("conv2d0", self.conv("conv2d0", F.pad(x, (2, 3, 2, 3))), tap)

    def _plain_conv(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return relu_with_taps(name, self.conv(name, x), tap)

    def _block(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return inception_block(name, x, tap, lambda part, h: self.conv(f"{name}_{part}", h), max_pool_3x3_s1)

    def _logits(self, x: Tensor, tap: Tap) -> Tensor:
        return self.softmax2_pre_activation_matmul(torch.flatten(x, 1))
