"""Reading images for the models: PNG/JPEG files or .npy batches, as RGB in [0, 1], NCHW."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

from .errors import UserError
from .limits import MAX_DECODED_PIXELS, MAX_IMAGE_SIDE, check_network_input

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Modes Pillow keeps above 8 bits, and the value that is full white in each.
HIGH_DEPTH_SCALE = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}


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
    count = sum(len(p) for p in parts)
    check_network_input(count, parts[0].shape[-2], parts[0].shape[-1], f"the batch of {count} inputs")
    return torch.cat(parts)


def load_image(path: str | Path, size: int | None = None) -> Tensor:
    """An image file as a [3, H, W] float tensor in [0, 1]; optionally resized and center-cropped.

    Any mode Pillow opens is read with its real range: 16-bit and 32-bit grayscale by their
    bit depth, palette/CMYK/grayscale converted to RGB, alpha dropped. The declared size is
    checked before any pixel is decoded (decompression bombs cost nothing)."""
    path = Path(path)
    try:
        with _opened(path) as im:
            width, height = im.size
            if width * height > MAX_DECODED_PIXELS or max(width, height) > MAX_IMAGE_SIDE:
                raise UserError(f"{path}: declares {width}x{height} px, more than this tool decodes "
                                f"({MAX_IMAGE_SIDE} px sides, {MAX_DECODED_PIXELS // 1_000_000} megapixels)",
                                hint="resize the image first; a small file declaring a huge size is a decompression bomb")
            if size is None:
                check_network_input(1, height, width, f"{path}")
            draft_decode(im, size)
            im.load()
            im = ImageOps.exif_transpose(im)  # a phone photo taken upright reaches the network upright
            array = _rgb_array(im, size)
    except FileNotFoundError:
        raise UserError(f"{path}: no such image file") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not an image file") from None
    except Image.DecompressionBombError as exc:  # Pillow's own guard (the process's setting, left alone) refused it first
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow's limit"
        raise UserError(f"{path}: declares {declared}, more than this tool decodes ({MAX_IMAGE_SIDE} px sides, "
                        f"{MAX_DECODED_PIXELS // 1_000_000} megapixels)",
                        hint="resize the image first; a small file declaring a huge size is a decompression bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{path}: not a readable image ({exc})", hint=f"use one of {', '.join(IMAGE_SUFFIXES)}") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


# How images are decoded: JPEG draft mode where the target is at most half the photo, EXIF
# orientation applied. Dataset runs record it, so a resumed run never mixes two decoders.
DECODING = "pillow: jpeg draft at <= 1/2 scale, exif orientation"


def draft_decode(im: Image.Image, size: int | None) -> None:
    """Ask Pillow's JPEG decoder for a reduced image (1/2, 1/4 or 1/8 scale, decoded in the DCT)
    whose short side still covers `size` where the photo is at least twice that: a 12 MP photo
    for a 224 px input decoded in 18 ms instead of 139 ms (benchmarks/bench_images.py). Other
    formats decode as they are."""
    if size is None or im.format != "JPEG" or min(im.size) < 2 * size:
        return
    scale = size / min(im.size)
    im.draft("RGB", (max(size, int(im.size[0] * scale + 0.999)), max(size, int(im.size[1] * scale + 0.999))))


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """Image.open, decoding waiting for `load()`. Pillow's process-wide settings are left as the
    caller has them; this module checks the declared size itself, so Pillow's warning about large
    images (and damaged EXIF's) is silenced here alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # damaged EXIF and the like: metadata, not pixels
        with Image.open(path) as im:
            yield im


def _rgb_array(im: Image.Image, size: int | None) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from any Pillow mode, resized first where asked."""
    if im.mode in HIGH_DEPTH_SCALE:  # Pillow's RGB conversion clips these to 255 (white): scale by bit depth instead
        gray = np.asarray(im, dtype=np.float64) / HIGH_DEPTH_SCALE[im.mode]
        im = Image.fromarray(np.clip(gray, 0.0, 1.0).astype(np.float32), mode="F")
        if size is not None:
            im = resize_center_crop(im, size)
        gray = np.asarray(im, dtype=np.float32)
        return np.repeat(np.clip(gray, 0.0, 1.0)[:, :, None], 3, axis=2)
    im = im.convert("RGB")
    if size is not None:
        im = resize_center_crop(im, size)
    return np.asarray(im, dtype=np.float32) / 255.0


def resize_center_crop(im: Image.Image, size: int) -> Image.Image:
    """Scale the short side to `size`, then cut the central `size` x `size` square."""
    w, h = im.size
    scale = size / min(w, h)
    im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def load_npy(path: str | Path) -> Tensor:
    """A .npy batch in [0, 1]: shape (N,3,H,W), (N,H,W,3), (3,H,W) or (H,W,3). The header is
    checked against the file's real length and the memory budget before the data is read."""
    path = Path(path)
    shape, dtype = npy_header(path)
    if len(shape) not in (3, 4) or 3 not in (shape[-3], shape[-1]):
        raise UserError(
            f"{path}: array of shape {list(shape)} is not an RGB batch",
            hint="save shape (N, 3, H, W) or (N, H, W, 3), values in [0, 1]",
        )
    if not np.issubdtype(dtype, np.floating):
        raise UserError(f"{path}: dtype {dtype} is not floating point", hint="scale to float values in [0, 1]")
    count = shape[0] if len(shape) == 4 else 1
    height, width = (shape[-2], shape[-1]) if shape[-3] == 3 else (shape[-3], shape[-2])
    check_network_input(count, height, width, f"{path}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim == 3:
        array = array[None]
    if array.shape[1] != 3:
        array = array.transpose(0, 3, 1, 2)
    if array.size and not np.isfinite(array).all():
        bad = int(np.size(array) - np.isfinite(array).sum())
        raise UserError(f"{path}: {bad:,} values are NaN or infinite", hint="images hold finite values in [0, 1]")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise UserError(
            f"{path}: values span [{array.min():.3g}, {array.max():.3g}], outside [0, 1]",
            hint="divide 8-bit images by 255; the models map [0, 1] to their own input range",
        )
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a .npy header, refusing a header that promises more data than the file has."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f, max_header_size=10_000)
            data_bytes = path.stat().st_size - f.tell()
    except FileNotFoundError:
        raise UserError(f"{path}: no such .npy file") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a .npy file") from None
    except (ValueError, OSError, SyntaxError, TypeError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise UserError(f"{path}: holds Python objects, not numbers", hint="save a float array in [0, 1]")
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if declared > data_bytes:
        raise UserError(f"{path}: the header declares shape {list(shape)} ({declared:,} bytes) but the file holds {data_bytes:,}",
                        hint="the file is truncated or its header is wrong; save it again with numpy.save")
    return tuple(int(n) for n in shape), dtype
