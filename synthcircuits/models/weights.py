"""Weight files: read `.pth`/`.pt` (safely) and `.safetensors`, write `.safetensors` atomically.

Nothing here knows an architecture; `zoo` checks a loaded dict against one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from torch import Tensor

from ..errors import WeightsError
from ..outputs import atomic_target
from .safetensors_file import write_safetensors

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
    if path.is_dir():
        raise WeightsError(f"{path} is a folder, not a weights file",
                           hint="a Caffe weights folder is converted first: synthcircuits weights convert FOLDER "
                           "--from caffe-bin -o weights.safetensors")
    if not path.is_file():
        raise WeightsError(
            f"{path}: no such weights file",
            hint="pass an existing .pth/.pt or .safetensors file (`synthcircuits weights fetch` "
            "downloads the Lucent InceptionV1 weights)",
        )
    if suffix == SAFETENSORS_SUFFIX:
        return _checked(_read_safetensors(path))
    if suffix in TORCH_SUFFIXES:
        return _checked(_read_torch(path))
    raise WeightsError(
        f"{path}: unknown weights format {suffix!r}",
        hint=f"use one of {', '.join(TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,))}",
    )


COUNTER_SUFFIXES = ("num_batches_tracked",)  # integer buffers batch-norm layers keep


def _checked(weights: WeightFile) -> WeightFile:
    """Refuse tensors no network weight can be: integer or bool weights, NaN or infinite values."""
    for name, tensor in weights.tensors.items():
        if not (tensor.is_floating_point() or (name.endswith(COUNTER_SUFFIXES) and not tensor.is_complex())):
            raise WeightsError(f"{weights.path}: tensor {name!r} holds {tensor.dtype} values; weights are floating point",
                               hint="save the model's float state dict (float32, float16 or bfloat16)")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise WeightsError(f"{weights.path}: tensor {name!r} holds {bad:,} NaN or infinite values",
                               hint="the training diverged or the file is damaged; use a checkpoint from before")
    return weights


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
    with atomic_target(path) as tmp:
        write_safetensors(tensors, tmp, metadata or {})
    return path


def save_torch(tensors: Mapping[str, Tensor], path: str | Path) -> Path:
    """Write a plain state dict with torch.save (the Lucent `.pth` format), atomically."""
    path = Path(path)
    with atomic_target(path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in tensors.items()}, tmp)
    return path


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
    lines = [f"{source} ({len(expected)} tensors expected; {counts})"]
    shown = [f"  missing     {k} {list(expected[k])}" for k in missing[:2]]
    shown += [f"  unexpected  {k} {list(tensors[k].shape)}" for k in unexpected[:2]]
    shown += [f"  mis-shaped  {k} is {list(tensors[k].shape)}, expected {list(expected[k])}" for k in misshaped[:2]]
    shown = shown[:4]
    lines += shown
    if len(missing) + len(unexpected) + len(misshaped) > len(shown):
        lines.append(f"  ... and {len(missing) + len(unexpected) + len(misshaped) - len(shown)} more; "
                     "`synthcircuits weights info FILE` names the architecture the file fits best")
    raise WeightsError("\n".join(lines))
