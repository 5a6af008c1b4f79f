"""Streaming a dataset's images: a torch Dataset whose unreadable items come back as a reason,
not an exception, so one corrupt file never stops a job."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import UserError
from ..images import load_image
from .items import Item, identity


class ItemImages(Dataset):
    """item index -> (index, [3, size, size] image in [0, 1], "" or why it could not be read,
    (size, mtime_ns) of the file as it was read)."""

    def __init__(self, items: Sequence[Item], size: int):
        self.items, self.size = list(items), size

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, Tensor, str, Tensor]:
        item = self.items[index]
        read_as = torch.tensor(identity(item), dtype=torch.int64)  # before reading: a file replaced meanwhile then differs
        try:
            return index, self._load(item), "", read_as
        except UserError as exc:
            reason = exc.message.removeprefix(f"{item.name}: ").removeprefix(f"{item.path}: ")
            return index, torch.zeros(3, self.size, self.size), reason, read_as

    def _load(self, item: Item) -> Tensor:
        return load_item(item, self.size)


def load_item(item: Item, size: int) -> Tensor:
    """One item as a [3, size, size] image in [0, 1]; an unreadable one is a UserError."""
    if item.row is None:
        return load_image(item.path, size)
    array = np.load(item.path, mmap_mode="r", allow_pickle=False)  # the header was checked when listed
    row = np.asarray(array[item.row] if array.ndim == 4 else array, dtype=np.float32)
    if row.shape[0] != 3:
        row = row.transpose(2, 0, 1)
    if not np.isfinite(row).all() or row.min() < 0 or row.max() > 1:
        raise UserError(f"{item.name}: values are not finite numbers in [0, 1]")
    image = torch.from_numpy(np.ascontiguousarray(row))
    if image.shape[-2:] != (size, size):
        image = torch.nn.functional.interpolate(image[None], size=(size, size), mode="bilinear",
                                                align_corners=False, antialias=True)[0]
    return image


def require_readable(items: Sequence[Item], size: int) -> None:
    """Return once one item reads (usually the first); if none does, a UserError naming the
    first few and the count, before any run writes anything."""
    first = None
    for item in items:
        try:
            load_item(item, size)
            return
        except UserError as exc:
            first = first or f"{item.name}: {exc.message.removeprefix(f'{item.name}: ').removeprefix(f'{item.path}: ')}"
    names = [item.name for item in items[:3]]
    raise UserError(f"none of the images could be read ({len(items)} listed: {', '.join(names)}{' ...' if len(items) > 3 else ''}); "
                    f"the first says {first}", hint="give images PIL can open (JPEG, PNG, ...)")
