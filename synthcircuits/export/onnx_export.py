"""ONNX export with the model's preprocessing inside, named intermediate outputs, a dynamic
batch, metadata, and a parity check against onnxruntime before the file appears."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import Tensor, nn

from ..models.capture import capture, check_names
from ..outputs import atomic_target, make_folders
from ..stimuli import arcs, lines

EXTERNAL_DATA_BYTES = 1_500_000_000  # protobuf caps a file at 2 GB; larger models keep weights beside it
DEFAULT_TOLERANCE = 1e-4


class CaptureOutputs(nn.Module):
    """forward(images) -> the named layers, running the network only as far as they need."""

    def __init__(self, model: nn.Module, outputs: Sequence[str]):
        super().__init__()
        self.model, self.outputs = model, list(outputs)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        acts = capture(self.model, images, self.outputs)
        return tuple(acts[name] for name in self.outputs)


@dataclass
class ParityRow:
    output: str
    shape: tuple[int, ...]
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def parity_images(size: int = 224) -> Tensor:
    """A fixed batch: two noise images, two arcs and a line (the export's own test data)."""
    noise = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    return torch.cat([noise, arcs(torch.tensor([30.0, 200.0]), 40.0, size=size), lines(torch.tensor([60.0]), size=size)])


# What torch's TorchScript exporter (dynamo=False) says on every export of these networks, silenced
# by message; anything else it says is shown. tests/test_export.py fails when an export says
# anything more, e.g. when torch deprecates this exporter further.
KNOWN_EXPORT_NOTICES = (
    (DeprecationWarning, "You are using the legacy TorchScript-based ONNX export"),
    (DeprecationWarning, "The feature will be removed"),
    (UserWarning, "Constant folding - Only steps=1 can be constant folded"),
)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    outputs: Sequence[str],
    *,
    opset: int = 17,
    metadata: Mapping[str, str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    size: int = 224,
) -> list[ParityRow]:
    """Export, check, then move into place. Returns the parity rows; raises ParityError (and
    writes nothing) if an output differs from torch by more than the tolerance, scaled by
    the output's magnitude where that exceeds 1."""
    path = Path(path)
    check_names(model, outputs)  # unknown names fail here, before any work
    model = model.eval()
    images = parity_images(size).to(next(model.parameters()).device)
    wrapper = CaptureOutputs(model, outputs).eval()  # export restores the wrapper's mode on everything inside it
    workdir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=make_folders(path.parent)))
    try:
        tmp = workdir / path.name
        with warnings.catch_warnings():
            for category, message in KNOWN_EXPORT_NOTICES:
                warnings.filterwarnings("ignore", message=message, category=category)
            torch.onnx.export(
                wrapper, (images[:1],), str(tmp), dynamo=False, opset_version=opset,
                input_names=["images"], output_names=list(outputs),
                dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
            )
        proto = onnx.load(str(tmp))
        for key, value in (metadata or {}).items():
            proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
        external = proto.ByteSize() > EXTERNAL_DATA_BYTES
        onnx.save(proto, str(tmp), save_as_external_data=external, location=f"{path.name}.data" if external else None)
        onnx.checker.check_model(str(tmp))
        rows = parity(tmp, wrapper, images, outputs, tolerance)
        if not all(r.ok for r in rows):
            raise ParityError(rows)
        if external:
            with atomic_target(path.parent / f"{path.name}.data") as data_tmp:
                os.replace(workdir / f"{path.name}.data", data_tmp)
        with atomic_target(path) as final_tmp:
            os.replace(tmp, final_tmp)
        return rows
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def parity(onnx_path: Path, wrapper: nn.Module, images: Tensor, outputs: Sequence[str], tolerance: float) -> list[ParityRow]:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": images.cpu().numpy()})
    with torch.no_grad():
        expected = [t.cpu().numpy() for t in wrapper(images)]
    rows = []
    for name, a, b in zip(outputs, got, expected):
        scale = max(1.0, float(np.abs(b).max()))
        rows.append(ParityRow(name, tuple(b.shape), float(np.abs(a - b).max()), tolerance * scale))
    return rows


class ParityError(Exception):
    def __init__(self, rows: list[ParityRow]):
        self.rows = rows
        bad = ", ".join(f"{r.output} ({r.max_abs_diff:.3g} > {r.tolerance:.3g})" for r in rows if not r.ok)
        super().__init__(f"onnxruntime disagrees with torch on {bad}; nothing was written")


def read_metadata(path: str | Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
