"""Commands that look at networks and files: `layers`, `weights info|convert|fetch`, `probe`."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..errors import UserError
from ..images import load_inputs
from ..models import capture
from ..models.capture import InputTooSmall
from ..models.caffe import read_caffe_bin
from ..models.fetch import fetch_weights
from ..models.weights import content_hash, read_weights, save_safetensors
from ..models.zoo import ARCHITECTURE_KEY, Fit, architecture_named, architecture_names, build_model, fit, fits, has_aux_heads
from ..tables import format_table, layer_table
from .common import resolve_weights, save_npz


def run_layers(architecture: str, listing: bool = False) -> int:
    if listing:
        print("\n".join(architecture_names() + ["timm:NAME (with timm installed)"]))
        return 0
    arch = architecture_named(architecture)
    geometry = build_model(architecture).geometry() if arch.key_scheme == "modules" else None
    print(layer_table(arch, geometry))
    return 0


def weights_info(path: Path) -> str:
    """What `synthcircuits weights info` prints: the file, and which architecture it fits."""
    if Path(path).is_dir():
        raise UserError(f"{path} is a folder", hint="Caffe weights folders are converted first: "
                        "synthcircuits weights convert FOLDER --from caffe-bin -o bvlc.safetensors")
    weights = read_weights(path)
    declared = weights.metadata.get(ARCHITECTURE_KEY)
    rows = [["file", str(weights.path)], ["format", weights.format], ["tensors", f"{len(weights.tensors)}"],
            ["parameters", f"{weights.parameter_count:,}"], ["content sha256", content_hash(weights.tensors)]]
    if declared in ("compact", "spliced"):
        rows.append(["architecture", f"{declared} (from its metadata)"])
    else:
        own = _declared_fit(weights.tensors, declared)
        best = own if own is not None and own.exact else fits(weights.tensors)[0]
        aux = " (with auxiliary heads, ignored)" if has_aux_heads(weights.tensors) else ""
        if best.exact:
            rows.append(["architecture", best.architecture + aux + ("" if not declared else f" (metadata says {declared})")])
        else:
            rows.append(["architecture", f"none fits; closest {best.architecture}: {best.matched} tensors match, "
                         f"{len(best.missing)} missing, {len(best.unexpected)} unexpected, {len(best.misshaped)} mis-shaped"])
            rows += [[f"  missing", k] for k in best.missing[:10]]
            rows += [[f"  unexpected", k] for k in best.unexpected[:10]]
            rows += [[f"  mis-shaped", k] for k in best.misshaped[:10]]
    rows += [[f"metadata {k}", v if len(v) < 80 else v[:77] + "..."] for k, v in sorted(weights.metadata.items())]
    return format_table(["field", "value"], rows)


def _declared_fit(tensors, declared: str | None) -> Fit | None:
    """How the file fits the architecture its metadata names (timm ones are not among the built-ins)."""
    if not declared:
        return None
    try:
        return fit(tensors, declared)
    except UserError:  # an architecture this install cannot build (timm missing, or a name it does not know)
        return None


def run_weights_info(path: Path) -> int:
    print(weights_info(path))
    return 0


def run_weights_convert(folder: Path, output: Path) -> int:
    state = read_caffe_bin(folder)
    save_safetensors(state, output, {ARCHITECTURE_KEY: "bvlc_googlenet", "synthcircuits.version": __version__,
                                     "synthcircuits.converted_from": "caffe-bin"})
    print(f"saved {output}: bvlc_googlenet, {len(state)} tensors, {sum(t.numel() for t in state.values()):,} parameters, "
          f"sha256 {content_hash(state)[:16]}")
    return 0


def run_weights_fetch(url: str, output: Path | None, timeout: float) -> int:
    print(f"saved {fetch_weights(url, output, timeout=timeout)}")
    return 0


def run_probe(weights: Path | None, architecture: str | None, layers_text: str, inputs: list[str], size: int | None,
              pre_relu: bool, device, output: Path) -> int:
    model = resolve_weights(weights, architecture).to(device)
    images = load_inputs(inputs, size)
    layers = [name.strip() for name in layers_text.split(",") if name.strip()]
    try:
        acts = capture(model, images, layers, pre_relu=pre_relu)
    except InputTooSmall as exc:
        shown = ", ".join(str(p) for p in inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
        raise UserError(f"{shown}: {exc.message}", hint=exc.hint) from None
    save_npz({k: v.cpu().numpy() for k, v in acts.items()}, output)
    for name, value in acts.items():
        print(f"{name:32s} {list(value.shape)}")
    print(f"saved {output}")
    return 0
