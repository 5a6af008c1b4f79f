"""`synthcircuits edit`: apply an edit spec to weights, save the result, report its effect."""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from .. import __version__
from ..errors import UserError
from ..models.fetch import default_weights_path
from ..models.weights import content_hash, read_weights, save_safetensors
from ..outputs import atomic_target
from ..models.zoo import model_from_state_dict, weights_architecture
from ..edit.apply import EditResult, apply_edits, edited_model, mean_image_loader
from ..dataset.items import list_images, read_class_map
from ..edit.effect import measure_effect
from ..edit.spec import EditSpec, check_weights_architecture, load_edit
from ..causal.patch_spec import PatchSpec
from ..language.source import SpecError
from ..models.spliced import SIDE_PATHS_KEY, SPLICED, SplicedModel
from ..jsontext import strict_json


def base_weights_path(spec: EditSpec | PatchSpec, weights: Path | None) -> Path:
    """--weights, else the spec's base:, else the fetched InceptionV1 (edit and intervention specs)."""
    if weights is None and spec.base is not None and not spec.base.is_file():
        raise SpecError(f"base: {spec.base} is not a weights file", location=spec.base_location,
                        hint="give a path relative to the spec file, or pass --weights FILE")
    path = weights or spec.base or default_weights_path()
    if not Path(path).is_file():
        raise UserError(
            f"{spec.file}: no weights to run it on ({path} does not exist)",
            hint="pass --weights FILE (trained InceptionV1: `synthcircuits weights fetch`), or set base: in the spec",
        )
    return Path(path)


def edit_metadata(result: EditResult, base_hash: str, model: nn.Module) -> dict[str, str]:
    meta = {
        "synthcircuits.version": __version__,
        "synthcircuits.architecture": SPLICED if isinstance(model, SplicedModel) else result.spec.architecture,
        "synthcircuits.edit_name": result.spec.name,
        "synthcircuits.edit_hash": result.spec.content_hash,
        "synthcircuits.base_hash": base_hash,
        "synthcircuits.edit_log": json.dumps(result.log_json()),
    }
    if isinstance(model, SplicedModel):
        meta[SIDE_PATHS_KEY] = model.side_path_metadata()
    return meta


def save_edited(model: nn.Module, path: Path, metadata: dict[str, str]) -> Path:
    """One weights file: a spliced network's holds its base and its side circuits (`models.spliced`)."""
    tensors = model.file_tensors() if isinstance(model, SplicedModel) else model.state_dict()
    return save_safetensors(tensors, path, metadata)


def run_edit(edit_path: Path, weights: Path | None, images: Path | None, mean_images: Path | None, output: Path | None,
             json_out: Path | None, device: str, class_map: Path | None = None, batch_size: int = 16, workers: int = 2,
             shards: Path | None = None, ray: str | None = None, mirror: bool = False) -> int:
    spec = load_edit(edit_path)
    if output is not None and json_out is not None and Path(output).resolve() == Path(json_out).resolve():
        raise UserError(f"-o and --json both name {output}: the weights and the effect report would share one path",
                        hint="give the report its own name, e.g. --json effect.json")
    if mirror and images is None:
        raise UserError("--mirror compares each image's effect with its mirror image's: it needs --images")
    if mean_images is not None and not Path(mean_images).is_dir():
        raise UserError(f"--mean-images {mean_images} is not a folder of images")
    source = base_weights_path(spec, weights)
    base_file = read_weights(source)
    check_weights_architecture(weights_architecture(base_file), spec.architecture, spec.architecture_location, source)
    labelled = list_images(images, read_class_map(class_map) if class_map else None, spec.architecture) if images else None
    result = apply_edits(base_file.tensors, spec, mean_image_loader(mean_images))
    print(f"{spec.name}: {len(result.changes)} tensor writes on {source}" + (f", {len(result.sides)} side path(s)" if result.sides else ""))
    print(result.log_table())
    model = edited_model(result, device)
    if output:
        save_edited(model, output, edit_metadata(result, content_hash(base_file.tensors), model))
        print(f"\nsaved {output}")
    if labelled is not None:
        base = model_from_state_dict(base_file.tensors, spec.architecture).to(device)
        report = measure_effect(base, model, labelled, batch_size=batch_size, folder=shards, workers=workers, ray=ray, mirror=mirror)
        print()
        print(report.tables())
        target = json_out or (output.with_suffix(".effect.json") if output else None)
        if target:
            with atomic_target(target) as tmp:
                tmp.write_text(strict_json({"edit": spec.name, "edit_hash": spec.content_hash, "weights": str(source),
                                           "log": result.log_json(), **report.as_json()}, indent=1))
            print(f"saved {target}")
    return 0
