"""torchvision's GoogLeNet behind the same stage/capture interface as InceptionV1.

The module is torchvision's own (so its state dicts load unchanged); this adapter adds the
staged forward, hook points named like Lucid's (`inception4c_5x5`, `inception4c_pre_relu`),
and one preprocessing function. Its "5x5" branch is a 3x3 conv, as in torchvision.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models import GoogLeNet

from ..layout.architectures import GOOGLENET_BLOCKS, TORCHVISION_GOOGLENET, Architecture
from ..layout.geometry import Geometry
from .inceptionv1 import _geometry
from .staged import NO_TAP, Stage, Tap, block_hook_points, inception_block, relu_with_taps, run_stages

_BLOCK_PARTS = {
    "1x1": ("branch1",),
    "3x3_bottleneck": ("branch2", 0),
    "3x3": ("branch2", 1),
    "5x5_bottleneck": ("branch3", 0),
    "5x5": ("branch3", 1),
    "pool_reduce": ("branch4", 1),
}


def _bn_conv(basic: nn.Module, x: Tensor) -> Tensor:
    """A torchvision BasicConv2d without its ReLU: conv then batch norm."""
    return basic.bn(basic.conv(x))


class TorchvisionGoogLeNet(GoogLeNet):
    architecture: Architecture = TORCHVISION_GOOGLENET

    def __init__(self) -> None:
        super().__init__(num_classes=1000, aux_logits=False, transform_input=False, init_weights=False)
        self.eval()

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """[0, 1] RGB -> what torchvision's normalisation + transform_input feed conv1."""
        return (x - 0.5) / 0.5

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return run_stages(self, x, NO_TAP, "fc")

    def stages(self) -> Sequence[tuple[str, Stage]]:
        stages: list[tuple[str, Stage]] = [
            ("conv1", partial(self._basic, "conv1")),
            ("maxpool1", lambda x, tap: self.maxpool1(x)),
            ("conv2", partial(self._basic, "conv2")),
            ("conv3", partial(self._basic, "conv3")),
            ("maxpool2", lambda x, tap: self.maxpool2(x)),
        ]
        for short in GOOGLENET_BLOCKS:
            if short == "4a":
                stages.append(("maxpool3", lambda x, tap: self.maxpool3(x)))
            if short == "5a":
                stages.append(("maxpool4", lambda x, tap: self.maxpool4(x)))
            stages.append((f"inception{short}", partial(self._block, f"inception{short}")))
        stages += [
            ("avgpool", lambda x, tap: self.avgpool(x)),
            ("fc", lambda x, tap: self.fc(torch.flatten(x, 1))),
            ("softmax", lambda x, tap: F.softmax(x, dim=1)),
        ]
        return stages

    FIRST_CONV_PAD = (3, 3, 3, 3)

    def geometry(self) -> Geometry:
        """Receptive fields and layer sizes (its ceil-mode pools give the sizes of InceptionV1's padded ones)."""
        return _geometry(self.architecture, self.FIRST_CONV_PAD)

    def hook_points(self) -> dict[str, str]:
        points: dict[str, str] = {}
        for name, _ in self.stages():
            points[name] = name
            if name.startswith("conv"):
                points[f"{name}_pre_relu"] = name
            if name.startswith("inception"):
                points.update(block_hook_points(name))
        return points

    def _basic(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        return relu_with_taps(name, _bn_conv(getattr(self, name), x), tap)

    def _block(self, name: str, x: Tensor, tap: Tap) -> Tensor:
        block = getattr(self, name)

        def conv(part: str, h: Tensor) -> Tensor:
            path = _BLOCK_PARTS[part]
            module = getattr(block, path[0])
            if len(path) == 2:
                module = module[path[1]]
            return _bn_conv(module, h)

        return inception_block(name, x, tap, conv, block.branch4[0])
