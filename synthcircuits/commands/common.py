"""What commands share: choosing a device, opening the model a command names, writing arrays safely."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import UserError, WeightsError
from ..models.fetch import default_weights_path
from ..models.weights import WeightFile, read_weights
from ..outputs import atomic_target
from ..models.spliced import SPLICED, spliced_from_file
from ..models.zoo import ARCHITECTURE_KEY, model_from_file, model_from_state_dict
from ..opened import SPEC_SUFFIXES, OpenedModel

UNITS_KEY = "synthcircuits.units"  # written by compile.build


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
    return open_model(path, architecture=architecture).model


def open_model(path: Path, device: str = "cpu", architecture: str | None = None) -> OpenedModel:
    """A circuit spec (compiled now), a spliced model, a compact build, or any weights file."""
    path = Path(path)
    if path.suffix in SPEC_SUFFIXES:
        from ..compile import compile_spec
        from ..language import load_spec

        build = compile_spec(load_spec(path), "inceptionv1")
        designed = designed_kinds([u.as_json() for u in build.units], str(path))
        return OpenedModel(f"{path} (compiled)", build.model().to(device), designed=designed)
    weights = read_weights(path)
    kind = architecture or weights.metadata.get(ARCHITECTURE_KEY)
    if kind == SPLICED:
        model = spliced_from_file(weights.tensors, weights.metadata, str(path), model_from_state_dict).to(device)
        return OpenedModel(str(path), model, file=weights)
    model = model_from_file(weights, architecture, device)
    if kind == "compact":
        return OpenedModel(str(path), model, compact_unit_names(weights), compact=True, file=weights)
    return OpenedModel(str(path), model, file=weights)


def designed_units(source: OpenedModel) -> dict[tuple[str, int], str]:
    """A compiled model's designed units and their kinds: from the spec it was compiled from, or
    from the unit list `build` wrote into its weights file (empty for a trained network)."""
    if source.designed or source.file is None or UNITS_KEY not in source.file.metadata:
        return source.designed
    try:
        records = json.loads(source.file.metadata[UNITS_KEY])
    except ValueError:
        records = None
    return designed_kinds(records, str(source.file.path))


def designed_kinds(records: list, where: str) -> dict[tuple[str, int], str]:
    """(layer, channel) -> the census family each compiled unit was built to be, from a build's
    unit records (older files name no kind: their family name counts where it is a census family)."""
    from ..taxonomy import FAMILIES_BY_NAME

    out = {}
    try:
        if not isinstance(records, list):
            raise TypeError
        for u in records:
            kind = str(u.get("kind") or u["family"])
            out[(str(u["layer"]), int(u["channel"]))] = kind if kind in FAMILIES_BY_NAME else ""
    except (TypeError, KeyError, ValueError, AttributeError):
        raise WeightsError(f"{where}: its {UNITS_KEY} metadata is not the unit list a build writes",
                           hint="rebuild the file with `synthcircuits build`") from None
    return out


def compact_unit_names(weights: WeightFile) -> dict[tuple[str, int], str]:
    """(layer, channel) -> the unit's address or family[index], from a compact build's metadata."""
    try:
        units = json.loads(weights.metadata.get(UNITS_KEY, "[]"))
        return {(str(u["layer"]), int(u["channel"])): str(u["address"] or f"{u['family']}[{u['index']}]") for u in units}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise WeightsError(f"{weights.path}: its {UNITS_KEY} metadata is not the unit list a compact build writes",
                           hint="rebuild it with `synthcircuits build --target compact`") from None


def model_options(weights: Path | None, spec: Path | None, device: str, architecture: str | None = None) -> OpenedModel:
    """`--weights FILE` or `--spec SPEC`, exactly one."""
    if (weights is None) == (spec is None):
        raise UserError("give exactly one of --weights FILE or --spec SPEC")
    return open_model(weights or spec, device, architecture)


def save_npz(arrays: Mapping[str, np.ndarray], path: Path) -> Path:
    """Write arrays to a .npz atomically, keyed by name."""
    with atomic_target(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path
