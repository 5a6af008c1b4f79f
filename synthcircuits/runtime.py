"""What commands share: choosing a device, finding the weights to use, writing arrays safely."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import UserError, WeightsError
from .models.fetch import default_weights_path
from .models.weights import atomic_target
from .models.zoo import load_model


def resolve_device(name: str) -> torch.device:
    """`cpu`, `cuda` or `cuda:N`, refusing a GPU that is not there."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}", hint="use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available here", hint="use --device cpu")
    return device


def resolve_weights(path: Path | None, architecture: str | None = None) -> nn.Module:
    """The model in `path`, or the fetched InceptionV1 when no path is given."""
    if path is None:
        path = default_weights_path()
        if not path.is_file():
            raise WeightsError(
                "no --weights given and no fetched InceptionV1 weights in the cache",
                hint=f"run `synthcircuits weights fetch` (saves {path}) or pass --weights FILE",
            )
    return load_model(path, architecture)


def save_npz(arrays: Mapping[str, np.ndarray], path: Path) -> Path:
    """Write arrays to a .npz atomically, keyed by name."""
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path
