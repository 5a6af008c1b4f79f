"""Converting Caffe's BVLC GoogLeNet from per-layer raw float32 files into a state dict.

Layout of the folder (see its README): `<caffe layer>/<name>_filter.bin` and `_bias.bin`,
little-endian float32 with no header; conv filters stored (out, kh, kw, in), the
classifier (1000, 1024).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import WeightsError
from ..layout.architectures import BVLC_GOOGLENET
from .zoo import expected_shapes

# InceptionV1-style part names -> Caffe's names inside an inception layer folder.
CAFFE_PARTS = {"1x1": "1x1", "3x3_bottleneck": "3x3_reduce", "3x3": "3x3", "5x5_bottleneck": "5x5_reduce", "5x5": "5x5", "pool_reduce": "pool_proj"}
STEM = {"conv1": ("conv1", "7x7_s2"), "conv2_reduce": ("conv2", "3x3_reduce"), "conv2": ("conv2", "3x3"), "classifier": ("loss3", "classifier")}


def caffe_location(prefix: str) -> tuple[str, str]:
    """(folder, file stem) holding the tensors whose key starts with `prefix`."""
    name = prefix.removesuffix("_pre_relu_conv")
    if name in STEM:
        return STEM[name]
    for part, caffe in CAFFE_PARTS.items():
        if name.endswith("_" + part):
            return name[: -len(part) - 1], caffe
    raise KeyError(prefix)


def read_caffe_bin(folder: str | Path) -> dict[str, Tensor]:
    """All tensors of BVLC GoogLeNet, checked against the architecture's shapes."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: no such folder", hint="point --from caffe-bin at the folder holding conv1/, inception_3a/, ..., loss3/")
    state, problems = {}, []
    for key, shape in expected_shapes(BVLC_GOOGLENET.name).items():
        prefix, kind = key.rsplit(".", 1)
        layer, stem = caffe_location(prefix)
        path = folder / layer / f"{stem}_{'filter' if kind == 'weight' else 'bias'}.bin"
        if not path.is_file():
            problems.append(f"  missing     {path.relative_to(folder)} (for {key} {list(shape)})")
            continue
        if path.stat().st_size != 4 * int(np.prod(shape)):  # checked before reading: a huge file costs nothing
            problems.append(f"  mis-sized   {path.relative_to(folder)}: {path.stat().st_size / 4:g} values, {key} needs {list(shape)}")
            continue
        values = np.fromfile(path, dtype="<f4")
        if not np.isfinite(values).all():
            problems.append(f"  not finite  {path.relative_to(folder)}: {int((~np.isfinite(values)).sum())} NaN or infinite values")
            continue
        if len(shape) == 4:  # (out, kh, kw, in) -> (out, in, kh, kw)
            o, i, kh, kw = shape
            values = values.reshape(o, kh, kw, i).transpose(0, 3, 1, 2)
        state[key] = torch.from_numpy(np.ascontiguousarray(values.reshape(shape)))
    if problems:
        more = f"\n  ... and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise WeightsError(f"{folder}: not a complete BVLC GoogLeNet ({len(problems)} of {len(expected_shapes(BVLC_GOOGLENET.name))} "
                           "blobs missing or wrong)\n" + "\n".join(problems[:3]) + more,
                           hint="point --from caffe-bin at the folder holding conv1/, inception_3a/, ..., loss3/")
    return state


def write_caffe_bin(state: dict[str, Tensor], folder: str | Path) -> Path:
    """The inverse, for tests: write a state dict in the per-layer Caffe layout."""
    folder = Path(folder)
    for key, tensor in state.items():
        prefix, kind = key.rsplit(".", 1)
        layer, stem = caffe_location(prefix)
        array = tensor.detach().cpu().numpy().astype("<f4")
        if array.ndim == 4:
            array = array.transpose(0, 2, 3, 1)
        (folder / layer).mkdir(parents=True, exist_ok=True)
        array.tofile(folder / layer / f"{stem}_{'filter' if kind == 'weight' else 'bias'}.bin")
    return folder
