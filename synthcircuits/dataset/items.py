"""What a dataset job runs over: images in a folder (flat, or one subfolder per class), a list
file of image paths, or the rows of a .npy batch, in a fixed order."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..images import IMAGE_SUFFIXES, npy_header
from ..labels import index_by_name, normalise
from ..limits import MAX_CLASS_MAP_BYTES
from ..textfile import read_utf8


@dataclass(frozen=True)
class Item:
    """One image of a dataset: a file, or row `row` of a .npy batch."""

    path: Path
    label: int | None = None  # class index when the folder says it (one subfolder per class)
    row: int | None = None

    @property
    def name(self) -> str:
        return str(self.path) if self.row is None else f"{self.path}[{self.row}]"


def identity(item: Item) -> tuple[int, int]:
    """(size in bytes, modification time in ns) of an item's file: what tells a replaced image
    from the one a result was computed from. (-1, -1) if the file cannot be read."""
    try:
        stat = os.stat(item.path)
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def list_items(source: Path, class_map: dict[str, str] | None = None, architecture: str = "inceptionv1",
               limit: int | None = None) -> list[Item]:
    """The images `source` names, in a deterministic order; at most `limit` of them."""
    source = Path(source)
    if source.is_dir():
        items = list_images(source, class_map, architecture)
    elif source.suffix == ".npy":
        shape, _ = npy_header(source)
        items = [Item(source, row=i) for i in range(shape[0] if len(shape) == 4 else 1)]
    elif source.is_file():
        items = _listed(source)
    else:
        raise UserError(f"{source}: no such image folder, list file or .npy batch")
    return items[:limit] if limit is not None else items


def _listed(path: Path) -> list[Item]:
    """A text file naming one image per line (relative paths resolve against the file's folder)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the image list ({exc})", hint="one image path per line, UTF-8") from None
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line).expanduser()
            p = p if p.is_absolute() else path.parent / p
            if not p.is_file():  # a folder, a device such as /dev/zero, a pipe or nothing at all: no image to read
                what = "does not exist" if not p.exists() else "is not a regular file"
                raise UserError(f"{path}:{number}: {line} {what}", hint="name one image file per line")
            items.append(Item(p))
    if not items:
        raise UserError(f"{path}: names no images", hint="one image path per line")
    return items


def read_class_map(path: Path, architecture: str | None = None) -> dict[str, str]:
    """Lines `FOLDER_NAME label words` (e.g. `n01440764 tench`): folder names -> class labels.
    With `architecture`, every label must name one of its classes (refused at its line)."""
    text = read_utf8(path, "class map", MAX_CLASS_MAP_BYTES)
    known = index_by_name(architecture) if architecture else None
    mapping = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise UserError(f"{path}:{number}: expected `FOLDER_NAME label`, got {line!r}")
            if known is not None and normalise(parts[1]) not in known:
                raise UserError(f"{path}:{number}: {parts[1].strip()!r} names no {architecture} class",
                                hint="use the class names `synthcircuits` prints (torchvision's ImageNet labels, e.g. 'sports car')")
            mapping[parts[0]] = parts[1]
    if not mapping:
        raise UserError(f"{path}: the class map names no class", hint="write lines `FOLDER_NAME label`, e.g. `n01440764 tench`")
    return mapping


def list_images(folder: Path, class_map: dict[str, str] | None = None, architecture: str = "inceptionv1") -> list[Item]:
    """Images directly in `folder`, or one subfolder per class, named by class label (or by
    any name `class_map` maps to a label, such as WordNet ids)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such image folder")
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir())
    if subfolders:
        known = index_by_name(architecture)
        label = {d.name: normalise((class_map or {}).get(d.name, d.name)) for d in subfolders}
        unknown = [name for name, text in label.items() if text not in known]
        if unknown:
            raise UserError(
                f"{folder}: subfolders {', '.join(unknown[:5])} name no {architecture} class",
                hint="name each subfolder by its class label (e.g. 'sports car' or sports_car), "
                "or pass --class-map FILE with lines `FOLDER_NAME label` (e.g. WordNet ids)",
            )
        images = [Item(p, known[label[d.name]]) for d in subfolders for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    else:
        images = [Item(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        raise UserError(f"{folder}: no images found", hint=f"put {', '.join(IMAGE_SUFFIXES[:3])} files there")
    return images


