"""Caffe's BVLC GoogLeNet (ImageNet, 1000 classes) behind the InceptionV1 interface.

Same shape of network as InceptionV1 (512-wide inception_4a, real 5x5 branches), with
Caffe's conventions from its deploy.prototxt: conv1 padded by 3, max pools that round up,
LRN over 5 channels with beta 0.75, and input as BGR 0-255 minus the mean (104, 117, 123),
which `preprocess` does from RGB in [0, 1]. Tensors use the InceptionV1 key scheme
(`inception_3b_5x5_pre_relu_conv.weight`), so addresses, expanded weights and edits work
unchanged; `caffe.py` converts the per-layer files.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .inceptionv1 import InceptionV1
from ..layout.architectures import BVLC_GOOGLENET, Architecture

CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


class BVLCGoogLeNet(InceptionV1):
    architecture: Architecture = BVLC_GOOGLENET
    FIRST_CONV_PAD = (3, 3, 3, 3)
    LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)

    @staticmethod
    def preprocess(x: Tensor) -> Tensor:
        """[0, 1] RGB -> Caffe's input: BGR, 0-255, minus the per-channel mean."""
        mean = torch.tensor(CAFFE_MEAN_BGR, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x.flip(1) * 255.0 - mean

    @staticmethod
    def pool(x: Tensor) -> Tensor:
        return F.max_pool2d(x, 3, 2, ceil_mode=True)
