"""Weight files: read `.pth`/`.pt` (safely) and `.safetensors`, write `.safetensors` atomically.

Nothing here knows an architecture; `zoo` checks a loaded dict against one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from ..errors import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"


@dataclass
class WeightFile:
    """The tensors of a weights file, with what the file says about itself."""

    path: Path
    format: str  # "safetensors" or "torch"
    tensors: dict[str, Tensor]
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def parameter_count(self) -> int:
        return sum(t.numel() for t in self.tensors.values())


def read_weights(path: str | Path, suffix: str | None = None) -> WeightFile:
    """Read a state dict from disk without ever unpickling arbitrary objects.

    The format follows the file's suffix, or `suffix` when given (for temp files).
    """
    path = Path(path)
    suffix = suffix or path.suffix
    if not path.is_file():
        raise WeightsError(
            f"{path}: no such weights file",
            hint="pass an existing .pth/.pt or .safetensors file (`synthcircuits weights fetch` "
            "downloads the Lucent InceptionV1 weights)",
        )
    if suffix == SAFETENSORS_SUFFIX:
        return _read_safetensors(path)
    if suffix in TORCH_SUFFIXES:
        return _read_torch(path)
    raise WeightsError(
        f"{path}: unknown weights format {suffix!r}",
        hint=f"use one of {', '.join(TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,))}",
    )


def _read_safetensors(path: Path) -> WeightFile:
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # safe_open is not iterable
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    return WeightFile(path, "safetensors", tensors, metadata)


def _read_torch(path: Path) -> WeightFile:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"{path}: refused to load: the file is not a plain dict of tensors ({first_line})",
            hint="only state dicts are loaded (torch.load with weights_only=True); "
            "save one with torch.save(model.state_dict(), FILE)",
        ) from None
    tensors = _as_state_dict(obj, path)
    return WeightFile(path, "torch", tensors)


def _as_state_dict(obj: object, path: Path) -> dict[str, Tensor]:
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    bad = [f"{k!r} ({type(v).__name__})" for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors: {', '.join(bad[:10])}")
    return {str(k): v for k, v in obj.items()}


def save_safetensors(tensors: Mapping[str, Tensor], path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write tensors (and string metadata) to `path` atomically: a temp file, then rename."""
    path = Path(path)
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_target(path) as tmp:
        save_file(contiguous, str(tmp), metadata=dict(metadata or {}))
    return path


def save_torch(tensors: Mapping[str, Tensor], path: str | Path) -> Path:
    """Write a plain state dict with torch.save (the Lucent `.pth` format), atomically."""
    path = Path(path)
    with atomic_target(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in tensors.items()}, tmp)
    return path


@contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; it is renamed onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def content_hash(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes: equal for equal weights in any file format."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_shapes(tensors: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]], source: str) -> None:
    """Raise one WeightsError that lists every missing, unexpected and mis-shaped tensor."""
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    misshaped = [k for k in expected if k in tensors and tuple(tensors[k].shape) != tuple(expected[k])]
    if not (missing or unexpected or misshaped):
        return
    counts = ", ".join(f"{len(v)} {k}" for k, v in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if v)
    lines = [f"{source}: the tensors do not fit the architecture ({len(expected)} expected; {counts})"]
    shown = [f"  missing     {k} {list(expected[k])}" for k in missing[:3]]
    shown += [f"  unexpected  {k} {list(tensors[k].shape)}" for k in unexpected[:3]]
    shown += [f"  mis-shaped  {k} is {list(tensors[k].shape)}, expected {list(expected[k])}" for k in misshaped[:3]]
    lines += shown
    if len(missing) + len(unexpected) + len(misshaped) > len(shown):
        lines.append("  ... `synthcircuits weights info FILE` lists which architecture the file fits best and what differs")
    raise WeightsError("\n".join(lines))
