"""Helpers the compiler tests share."""

import numpy as np
import torch

from synthcircuits.kernels.geometry import embed_centered
from synthcircuits.layout import INCEPTIONV1
from synthcircuits.layout import feeding_layer


def spec_weights_dense(build, layer_name):
    """What the spec asks for between `layer_name` and its feeding layer, placed on InceptionV1 channels."""
    layer = INCEPTIONV1.layer(layer_name)
    size = max((b.kernel for b in layer.branches), default=layer.kernel)
    feeder = feeding_layer(INCEPTIONV1, layer_name)
    dense = np.zeros((layer.channels, feeder.channels if feeder else 3, size, size))
    where = {(u.family, u.index): u.address for u in build.units}
    graph = build.graph
    for family, kernels in graph.pixel_kernels.items():
        for i, k in enumerate(kernels):
            if where[(family, i)].layer == layer_name:
                dense[where[(family, i)].channel] = embed_centered(k, size)
    for (target, source), w in graph.weights.items():
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                t = where[(target, j)]
                if t.layer == layer_name:
                    dense[t.channel, where[(source, i)].channel] += embed_centered(w[j, i], size)
    return torch.from_numpy(dense.astype(np.float32))
