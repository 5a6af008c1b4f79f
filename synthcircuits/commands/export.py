"""`synthcircuits export`: a spec or weights (optionally edited) to one ONNX file."""

from __future__ import annotations

import json
from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..models.weights import content_hash
from ..opened import SPEC_SUFFIXES, OpenedModel
from .common import open_model
from ..tables import format_table
from ..export.onnx_export import ParityError, export_onnx

def load_for_export(source: Path, target: str, edits: Path | None, device: str) -> tuple[OpenedModel, dict[str, str]]:
    """The model to export and what its metadata should record."""
    meta = {"synthcircuits.version": __version__}
    if source.suffix in SPEC_SUFFIXES:
        from ..compile import compile_spec
        from ..language import load_spec

        build = compile_spec(load_spec(source), target)
        meta.update({k: v for k, v in build.metadata().items() if k != "synthcircuits.version"})
        opened = OpenedModel(f"{source} (compiled)", build.model(), compact=target == "compact")
    else:
        opened = open_model(source, device)
        meta.update({k: v for k, v in opened.file.metadata.items() if k.startswith("synthcircuits.") and k != "synthcircuits.version"})
        meta.setdefault("synthcircuits.weights_hash", content_hash(opened.file.tensors))
    if edits is not None:
        from ..edit import apply_edits, edited_model, load_edit

        edit = load_edit(edits)
        if opened.compact or edit.architecture != opened.architecture.name:
            kind = "a compact build (only a circuit's units)" if opened.compact else opened.architecture.name
            raise UserError(f"{edits}: the edit is written for {edit.architecture}, but {source} is {kind}",
                            hint="set architecture: in the edit to match the model, or export the full network")
        result = apply_edits(opened.model.state_dict(), edit)
        opened = OpenedModel(opened.label, edited_model(result))
        meta.update({"synthcircuits.edit_name": edit.name, "synthcircuits.edit_hash": edit.content_hash,
                     "synthcircuits.edit_log": json.dumps(result.log_json())})
    opened.model.to(device)
    return opened, meta


def run_export(source: Path, output: Path, outputs: str | None, opset: int, target: str, edits: Path | None, device: str) -> int:
    opened, meta = load_for_export(source, target, edits, device)
    names = [n.strip() for n in outputs.split(",")] if outputs else [opened.final_layer()]
    try:
        rows = export_onnx(opened.model, output, names, opset=opset, metadata=meta)
    except ParityError as exc:
        print(_parity_table(exc.rows))
        print(f"error: {exc}")
        return 1
    print(_parity_table(rows))
    print(f"\nsaved {output} (opset {opset}, inputs: images, RGB in [0, 1], NCHW, any batch; outputs: {', '.join(names)})")
    return 0


def _parity_table(rows) -> str:
    return format_table(["output", "shape", "max |onnxruntime - torch|", "tolerance", "ok"],
                        [[r.output, "x".join(map(str, r.shape)), r.max_abs_diff, r.tolerance, "yes" if r.ok else "NO"] for r in rows])
