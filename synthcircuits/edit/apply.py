"""Applying an edit spec: a new state dict (the old one untouched), a log, and any side circuits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..layout.address import UnitAddress
from ..models.capture import capture
from ..layout.architectures import Architecture
from ..models.weights import read_weights
from ..models.zoo import architecture_named, model_from_state_dict, weights_architecture
from ..tables import format_table
from . import ops, traced_ops
from ..language.source import SpecError
from .spec import EditOp, EditSpec, edit_error
from .splice import SideCircuit, replace_units, spec_side_circuit, spliced_network
from .state import Change, StateEditor

MeanImages = Callable[[EditOp], Tensor]  # the image batch a mean ablation averages over


@dataclass
class EditResult:
    spec: EditSpec
    state: dict[str, Tensor]
    changes: list[Change]
    sides: list[SideCircuit] = field(default_factory=list)  # circuits whose units run beside the network

    def log_table(self) -> str:
        rows = [[c.op, c.describe(), c.changed] for c in self.changes]
        rows += [[side.op_label, side.describe(), ""] for side in self.sides]
        return format_table(["edit", "tensor elements written", "changed"], rows)

    def log_json(self) -> list[dict]:
        log = [{"op": c.op, "tensor": c.tensor, "index": c.describe().split("  (")[0], "note": c.note, "changed": c.changed} for c in self.changes]
        log += [{"op": side.op_label, "side_path": side.describe(), "units": list(side.units),
                 "paths": [p.as_json() for p in side.paths]} for side in self.sides]
        return log


def mean_image_loader(default_folder: Path | None = None) -> MeanImages:
    """Images for a mean ablation: the op's own `images:` folder, else `default_folder`."""

    @cache
    def folder_batch(folder: Path) -> Tensor:
        from ..images import load_image
        from ..dataset.items import list_images

        return torch.stack([load_image(i.path, 224) for i in list_images(folder)])

    def images_for(op: EditOp) -> Tensor:
        folder = op.path or default_folder
        if folder is None:
            raise edit_error(op, "mean_ablate needs images to average over", "give images: DIR in the edit, or --mean-images DIR")
        if op.path is None:  # --mean-images: the command line's, named by the error itself
            return folder_batch(Path(folder))
        try:
            return folder_batch(Path(folder))
        except UserError as exc:  # the spec's images: folder: said at the spec's line
            raise edit_error(op, f"images: {exc.message}", exc.hint) from None

    return images_for


# An operation writes through the editor; one whose units must run beside the network returns their side circuit.
Apply = Callable[[StateEditor, EditOp, Architecture, MeanImages], "SideCircuit | None"]


def donor_tensors(op: EditOp, arch: Architecture) -> dict[str, Tensor]:
    """The tensors of a transplant's `weights:` file, which must hold the edited architecture."""
    weights = read_weights(op.path)
    found = weights_architecture(weights)
    if found != arch.name:
        raise edit_error(op, f"{op.path.name} holds {found} weights; the edit changes {arch.name}",
                         "transplant from weights of the same architecture")
    return weights.tensors


def _googlenet_transplant(editor: StateEditor, op: EditOp, arch: Architecture, mean_images: MeanImages) -> SideCircuit | None:
    """The units take the circuit's values: their rows copied where that is exact, else on a side path."""
    if op.from_weights:
        return replace_units(editor, op, arch, donor_tensors(op, arch), op.path.name)
    return replace_units(editor, op, arch, _compile_patch(op, editor.result(), arch), op.path.name)


def _googlenet_splice(editor: StateEditor, op: EditOp, arch: Architecture, mean_images: MeanImages) -> SideCircuit:
    """A circuit spec run beside the network (`splice.spec_side_circuit`), its errors said at the op's line."""
    try:
        return spec_side_circuit(op.path, editor.result(), arch, op.units)
    except SpecError:
        raise  # an error inside the circuit spec is said at its own file:line:col
    except UserError as exc:
        raise edit_error(op, exc.message, exc.hint) from None


# Each architecture family's edit operations, by the name edit specs use (`splice` is applied
# when the model is built, see `edited_model`). tests/test_architectures.py holds these to edit/spec.py's OPS.
GOOGLENET_OPS: dict[str, Apply] = {
    "ablate": lambda e, op, arch, m: ops.ablate(e, op, arch),
    "clamp": lambda e, op, arch, m: ops.clamp(e, op, arch),
    "scale": lambda e, op, arch, m: ops.scale(e, op, arch),
    "ablate_connection": lambda e, op, arch, m: ops.scale_connection(e, op, arch),
    "scale_connection": lambda e, op, arch, m: ops.scale_connection(e, op, arch),
    "mean_ablate": lambda e, op, arch, m: ops.mean_ablate(e, op, arch, unit_means(e.result(), op, m, arch.name)),
    "transplant": _googlenet_transplant,
    "splice": _googlenet_splice,
}
TRACED_OPS: dict[str, Apply] = {
    "ablate": lambda e, op, arch, m: traced_ops.ablate(e, op, arch),
    "clamp": lambda e, op, arch, m: traced_ops.clamp(e, op, arch),
    "scale": lambda e, op, arch, m: traced_ops.scale(e, op, arch),
    "mean_ablate": lambda e, op, arch, m: traced_ops.mean_ablate(e, op, arch, unit_means(e.result(), op, m, arch.name)),
    "transplant": lambda e, op, arch, m: traced_ops.transplant(e, op, arch, donor_tensors(op, arch)),
}
OPS_BY_SCHEME: dict[str, dict[str, Apply]] = {"googlenet": GOOGLENET_OPS, "modules": TRACED_OPS}


def apply_edits(state: Mapping[str, Tensor], spec: EditSpec, mean_images: MeanImages | None = None) -> EditResult:
    """Run the spec's operations in order. Each must change something, or it is an error."""
    arch = architecture_named(spec.architecture)
    if arch.key_scheme not in OPS_BY_SCHEME:
        raise UserError(f"{spec.file}: edits of {arch.name} weights are written for the traced network",
                        hint="set architecture: torchvision:googlenet (the same weights file loads as it)")
    table = OPS_BY_SCHEME[arch.key_scheme]
    mean_images = mean_images or mean_image_loader()
    editor = StateEditor(state)
    sides = []
    for op in spec.ops:
        start = len(editor.changes)
        if op.kind not in table:
            raise edit_error(op, f"{op.kind} is not defined for {arch.name}", "available: " + ", ".join(table))
        side = table[op.kind](editor, op, arch, mean_images)
        if side is not None:
            sides.append(replace(side, op_label=op.label))
        elif sum(c.changed for c in editor.changes[start:]) == 0:
            raise edit_error(op, f"{op.label} changes nothing: those weights already have the values it would write")
    return EditResult(spec, editor.result(), editor.changes, sides)


def unit_means(state: Mapping[str, Tensor], op: EditOp, mean_images: MeanImages, architecture: str) -> dict[UnitAddress, float]:
    """Each unit's mean activation (over images and positions) in the model as edited so far."""
    images = mean_images(op)
    model = model_from_state_dict(state, architecture)
    layers = sorted({u.layer for u in op.units})
    acts = capture(model, images, layers)
    return {u: float(acts[u.layer][:, u.channel].double().mean()) for u in op.units}


def _compile_patch(op: EditOp, state: Mapping[str, Tensor], arch: Architecture) -> dict[str, Tensor]:
    """The network's state with the patch spec compiled onto it; the op's units must be ones it builds."""
    from ..compile import compile_spec
    from ..language import load_spec

    spec = load_spec(op.path)
    if spec.architecture != arch.name:
        raise edit_error(op, f"{op.path.name} is a {spec.architecture} circuit; the edit changes {arch.name}",
                         "transplant from a circuit written for the edited architecture")
    build = compile_spec(spec, "inceptionv1", base=state)
    built = {u.address for u in build.units}
    missing = [str(u) for u in op.units if u not in built]
    if missing:
        raise edit_error(op, f"{op.path.name} does not compile {', '.join(missing)}", "name units the circuit spec pins")
    return build.state


def edited_model(result: EditResult, device: str | torch.device = "cpu") -> nn.Module:
    """The edited network as one module (side circuits run beside it, see `models.spliced`)."""
    model = model_from_state_dict(result.state, result.spec.architecture)
    return spliced_network(model, result.sides).to(device).eval()
