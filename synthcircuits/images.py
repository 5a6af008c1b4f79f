"""Reading images for the models: PNG/JPEG files or .npy batches, as RGB in [0, 1], NCHW."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from .errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_inputs(paths: Sequence[str | Path], size: int | None = None) -> Tensor:
    """One batch from image files and/or .npy arrays; images are resized+center-cropped to `size`."""
    parts = [load_npy(p) if Path(p).suffix == ".npy" else load_image(p, size).unsqueeze(0) for p in paths]
    if not parts:
        raise UserError("no input given", hint="pass image files (PNG/JPEG) or a .npy batch")
    shapes = {tuple(p.shape[1:]) for p in parts}
    if len(shapes) > 1:
        raise UserError(
            f"inputs have different sizes {sorted(shapes)}",
            hint="pass --size N to resize and center-crop every image to N x N",
        )
    return torch.cat(parts)


def load_image(path: str | Path, size: int | None = None) -> Tensor:
    """An image file as a [3, H, W] float tensor in [0, 1]; optionally resized and center-cropped."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None:
                im = resize_center_crop(im, size)
            array = np.asarray(im, dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise UserError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})", hint=f"use one of {IMAGE_SUFFIXES}") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def resize_center_crop(im: Image.Image, size: int) -> Image.Image:
    """Scale the short side to `size`, then cut the central `size` x `size` square."""
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def load_npy(path: str | Path) -> Tensor:
    """A .npy batch in [0, 1]: shape (N,3,H,W), (N,H,W,3), (3,H,W) or (H,W,3)."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such .npy file") from None
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or 3 not in (array.shape[1], array.shape[3]):
        raise UserError(
            f"{path}: array of shape {list(array.shape)} is not an RGB batch",
            hint="save shape (N, 3, H, W) or (N, H, W, 3), values in [0, 1]",
        )
    if array.shape[1] != 3:
        array = array.transpose(0, 3, 1, 2)
    if not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"{path}: dtype {array.dtype} is not floating point", hint="scale to float values in [0, 1]")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise UserError(
            f"{path}: values span [{array.min():.3g}, {array.max():.3g}], outside [0, 1]",
            hint="divide 8-bit images by 255; the models map [0, 1] to their own input range",
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
