"""`synthcircuits patch`, `attribute` and `extract`: run-time interventions, attribution and
circuit extraction from the command line (the library does the work: `synthcircuits.causal`)."""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from ..causal.attribution import Target, gradient_times_activation, integrated_gradients
from ..causal.edges import edge_attribution
from ..causal.extraction import draft_spec, extract_circuit, preferred_arcs
from ..causal.patch_run import plan, run_patch
from ..causal.patch_spec import load_patch
from ..dataset.items import Item, list_items, read_class_map
from ..dataset.loading import load_item
from ..dataset.runner import RunOptions
from ..edit.effect import short_name
from ..edit.spec import check_weights_architecture
from ..errors import UserError
from ..images import IMAGE_SUFFIXES, load_image
from ..labels import labels_for, normalise
from ..layout.address import unit_at
from ..layout.topology import feeding_layer
from ..models.weights import content_hash, save_safetensors
from ..models.zoo import weights_metadata
from ..opened import OpenedModel
from ..outputs import atomic_target
from ..tables import format_table
from ..viz.attribution_maps import save_heatmaps
from ..viz.images import save_images
from .common import model_options, open_model
from .edit import base_weights_path
from ..jsontext import strict_json


def image_items(paths: list[Path], architecture: str, class_map: Path | None = None, limit: int | None = None) -> list[Item]:
    """One folder, list file or .npy batch, or one or more image files."""
    if len(paths) == 1 and Path(paths[0]).suffix.lower() not in IMAGE_SUFFIXES:
        items = list_items(paths[0], read_class_map(class_map) if class_map else None, architecture, limit)
    else:
        not_files = [p for p in paths if not Path(p).is_file()]
        if not_files:
            raise UserError(f"{not_files[0]} is not an image file", hint="give one folder, or several image files")
        items = [Item(Path(p)) for p in paths][:limit]
    if not items:
        raise UserError(f"no images in {paths[0]}", hint="give a folder of PNG/JPEG images, a list file or a .npy batch")
    return items


def readable(items: list[Item], size: int, made: dict | None = None) -> tuple[list[Item], torch.Tensor | None, list[dict]]:
    """The items that load (made ones taken as they are), their images, and why the others did not."""
    kept, images, skipped = [], [], []
    for item in items:
        try:
            images.append(made[item] if made and item in made else load_item(item, size))
            kept.append(item)
        except UserError as exc:
            skipped.append({"image": short_name(item), "reason": exc.message.removeprefix(f"{item.path}: ")})
    return kept, torch.stack(images) if images else None, skipped


def nothing_read(skipped: list[dict]) -> UserError:
    return UserError("none of the images could be read: " + "; ".join(f"{s['image']}: {s['reason']}" for s in skipped[:3]))


def _skipped_note(skipped: list[dict]) -> str:
    return f"; {len(skipped)} images could not be read and were skipped (listed in the JSON)" if skipped else ""


def run_patch_command(spec_path: Path, weights: Path | None, architecture: str | None, images: list[Path], size: int,
                      output_dir: Path, batch_size: int, workers: int, shards: Path | None, ray: str | None, device: str,
                      class_map: Path | None, mirror: bool = False) -> int:
    spec = load_patch(spec_path)
    source = open_model(base_weights_path(spec, weights), device, architecture)
    check_weights_architecture(source.architecture.name, spec.architecture, spec.architecture_location, source.label)
    items = image_items(images, source.architecture.name, class_map)
    concrete = plan(spec, source.model, size)
    describe = {"kind": "patch", "weights_sha256": content_hash(source.model.state_dict()), "spec_sha256": spec.content_hash,
                "plan_sha256": concrete.fingerprint(), "size": size}
    options = RunOptions(batch_size=batch_size, workers=workers, size=size, device=device)
    report = run_patch(source.model, concrete, items, options, describe, shards, ray, mirror=mirror)
    print(f"{spec.name} on {source.label}: {len(report.effect.images)} images")
    print(report.tables())
    target = output_dir / "patch.json"
    with atomic_target(target) as tmp:
        tmp.write_text(strict_json({"spec": spec.name, "spec_sha256": spec.content_hash, "weights": source.label, "size": size,
                                   **report.as_json()}, indent=1))
    print(f"\nsaved {target}")
    return 0


METHODS = ("ig", "gradient", "edges")


def parse_target(source: OpenedModel, text: str, position: str) -> Target:
    """A unit address (any layer, the classifier's included) or `class:LABEL` / `class:INDEX`."""
    arch = source.architecture
    where = parse_position(position)
    if text.startswith("class:"):
        wanted = text[len("class:"):].strip()
        labels, valid = labels_for(arch.name)
        if wanted.isdigit():
            index = int(wanted)
            if index not in valid:
                raise UserError(f"{text}: class indices of {arch.name} run {valid.start}-{valid.stop - 1}")
        else:
            matches = [i for i in valid if normalise(labels[i]) == normalise(wanted)]
            if not matches:
                raise UserError(f"{text}: no class of {arch.name} is called {wanted!r}", hint="give its index, e.g. class:281")
            index = matches[0]
        return Target(arch.classifier, index)
    unit = source.parse_unit(text)
    if where == "mean":
        return Target(unit.layer, unit.channel, mean=True)
    return Target(unit.layer, unit.channel, where)


def parse_position(text: str) -> tuple[int, int] | str | None:
    if text in ("centre", "center"):
        return None
    if text == "mean":
        return "mean"
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise UserError(f"--position {text!r}: give centre, mean or Y,X (e.g. 14,14)")
    return int(parts[0]), int(parts[1])


def run_attribute(target_text: str, to: str | None, weights: Path | None, spec: Path | None, architecture: str | None,
                  images: list[Path] | None, size: int, method: str, steps: int, baseline: Path | None, position: str, top: int,
                  limit: int, batch_size: int, output_dir: Path, device: str, count: int = 8) -> int:
    source = model_options(weights, spec, device, architecture)
    model, arch = source.model, source.architecture
    target = parse_target(source, target_text, position)
    if method == "edges":
        return _edge_attribution(source, target, to, images, size, limit, top, output_dir, count)
    if to is None:
        raise UserError("--to LAYER is needed for ig and gradient", hint="e.g. --to mixed3a (an earlier layer)")
    items, made = (image_items(images, arch.name, limit=limit), {}) if images else arc_items(source, target, count, output_dir)
    start = load_image(baseline, size)[None] if baseline is not None else None
    rows, per_unit, total_images, names, skipped = [], None, 0, [], []
    for first in tqdm(range(0, len(items), batch_size), desc="attribution", unit="batch", disable=len(items) <= batch_size):
        batch_items, batch, unread = readable(items[first : first + batch_size], size, made)
        skipped += unread
        if batch is None:
            continue
        if method == "ig":
            result = integrated_gradients(model, batch, target, to, baseline=start, steps=steps)
        else:
            result = gradient_times_activation(model, batch, target, to)
        values = result.values.detach().cpu()
        channels = result.per_channel.detach().cpu()
        names = names or unit_names(arch, to, channels.shape[1])
        per_unit = channels.double().sum(0) if per_unit is None else per_unit + channels.double().sum(0)
        total_images += len(batch_items)
        for k, item in enumerate(batch_items):
            ranked = channels[k].abs().argsort(descending=True)[:top].tolist()
            row = {"image": short_name(item), "target": float(result.target_input[k]), "units": [
                {"unit": names[c], "value": float(channels[k, c])} for c in ranked]}
            if method == "ig":
                row["baseline_target"] = float(result.target_baseline[k])
                row["completeness_gap"] = float(result.completeness_gap[k])
            if values.dim() == 4:
                picture = output_dir / f"heatmap_{len(rows):03d}.png"
                save_heatmaps(batch[k], values[k].sum(0), [values[k, c] for c in ranked[:3]], picture)
                row["heatmap"] = picture.name
            rows.append(row)
    if per_unit is None:
        raise nothing_read(skipped)
    mean = per_unit / total_images
    order = mean.abs().argsort(descending=True).tolist()
    print(f"{method} attribution of {target} to {to} over {total_images} images ({source.label}){_skipped_note(skipped)}")
    print(format_table(["unit", "mean attribution", "share of |total|"],
                       [[names[c], float(mean[c]), float(mean[c].abs() / mean.abs().sum().clamp_min(1e-12))] for c in order[:top]]))
    if method == "ig":
        gaps = [r["completeness_gap"] for r in rows]
        print(f"\ncompleteness: attributions sum to f(image) - f(baseline) within {max(gaps):.2%} (worst image, {steps} steps)")
    _write_json(output_dir / "attribution.json", {
        "target": str(target), "layer": to, "method": method, "steps": steps if method == "ig" else None,
        "baseline": str(baseline) if baseline else "zeros", "weights": source.label, "size": size, "images": rows, "skipped": skipped,
        "mean_per_unit": [{"unit": names[c], "value": float(mean[c])} for c in order]})
    if rows and "heatmap" in rows[0]:
        print(f"heatmaps (image, all units, then the image's top 3 units): {output_dir}/heatmap_*.png")
    return 0


def arc_items(source: OpenedModel, target: Target, count: int, output_dir: Path) -> tuple[list[Item], dict[Item, torch.Tensor]]:
    """Without --images: the target unit's `count` preferred radial arcs (items and their images),
    saved under OUTPUT/stimuli/ (so `patch --images` can reuse them)."""
    if target.layer == source.architecture.classifier:
        raise UserError("a class target needs --images", hint="radial arcs are made for a unit's receptive field")
    unit = unit_at(target.layer, target.channel, source.architecture)
    arcs, angles, _ = preferred_arcs(source.model, unit, count)
    paths = [output_dir / "stimuli" / f"arc_{angle:05.1f}.png" for angle in angles]
    for image, path in zip(arcs, paths):
        save_images([image], path)
    items = [Item(path) for path in paths]
    return items, dict(zip(items, arcs))


def _edge_attribution(source: OpenedModel, target: Target, to: str | None, images: list[Path] | None, size: int, limit: int, top: int,
                      output_dir: Path, count: int) -> int:
    arch = source.architecture
    if target.layer == arch.classifier:
        raise UserError("edge attribution is for a unit, not a class logit", hint="use --method ig for classes")
    unit = unit_at(target.layer, target.channel, arch)
    feeder = feeding_layer(arch, unit.layer)
    if to is not None and (feeder is None or to != feeder.name):
        raise UserError(f"edge attribution reads {unit}'s direct inputs ({feeder.name if feeder else 'the pixels'}), not {to}",
                        hint="leave out --to, or use --method ig for a layer further back")
    items, made = (image_items(images, arch.name, limit=limit), {}) if images else arc_items(source, target, count, output_dir)
    items, batch, skipped = readable(items, size, made)
    if batch is None:
        raise nothing_read(skipped)
    result = edge_attribution(source.model, batch, unit, None if target.mean else target.centred(source.model, size).position)
    values = result.values.double().cpu()
    mean = values.mean(0)
    order = mean.abs().argsort(descending=True).tolist()
    print(f"edge attribution of {unit} ({'mean over positions' if target.mean else 'at ' + str(result.position)}) over "
          f"{len(items)} images: expanded weight x input activation{_skipped_note(skipped)}")
    print(format_table(["input unit", "mean contribution", "share of |total|"],
                       [[str(result.inputs[c]), float(mean[c]), float(mean[c].abs() / mean.abs().sum().clamp_min(1e-12))] for c in order[:top]]))
    print(f"\nbias {result.bias:.4g}; contributions + bias miss the pre-activation by {float(result.linear_gap.max()):.2%} at worst "
          "(0 for 1x1, pool and plain conv units; through a bottleneck the ReLU is treated as identity)")
    _write_json(output_dir / "attribution.json", {
        "target": str(unit), "method": "edges", "position": result.position, "weights": source.label, "size": size, "bias": result.bias,
        "images": [{"image": short_name(item), "pre_activation": float(result.pre_activation[k]), "linear_gap": float(result.linear_gap[k]),
                    "units": [{"unit": str(result.inputs[c]), "value": float(values[k, c])}
                              for c in values[k].abs().argsort(descending=True)[:top].tolist()]} for k, item in enumerate(items)],
        "mean_per_unit": [{"unit": str(result.inputs[c]), "value": float(mean[c])} for c in order], "skipped": skipped})
    return 0


def unit_names(arch, layer: str, channels: int) -> list[str]:
    if arch.has_layer(layer):
        return [str(unit_at(layer, c, arch)) for c in range(channels)]
    return [f"{layer}:{c}" for c in range(channels)]


def _write_json(path: Path, data: dict) -> None:
    with atomic_target(path) as tmp:
        tmp.write_text(strict_json(data, indent=1))
    print(f"saved {path}")


def run_extract(unit_text: str, weights: Path | None, spec: Path | None, images: list[Path] | None, size: int, fraction: float,
                count: int, output: Path, device: str) -> int:
    source = model_options(weights, spec, device)
    arch = source.architecture
    if arch.name != "inceptionv1" or source.compact:
        raise UserError(f"circuit specs are written on InceptionV1's layout; {source.label} is {arch.name}",
                        hint="extract from InceptionV1 weights or a circuit spec (attribute --method edges ranks edges on any GoogLeNet)")
    unit = source.parse_unit(unit_text)
    arcs, _, tuning = preferred_arcs(source.model, unit, count)
    if images:
        items = image_items(images, arch.name, limit=256)
        items, batch, skipped = readable(items, size)
        if batch is None:
            raise nothing_read(skipped)
        stimuli = f"{len(items)} images{' (' + str(len(skipped)) + ' unreadable, skipped)' if skipped else ''}"
    else:
        batch, stimuli = arcs, f"the {count} radial arcs that drive it most"
    extraction = extract_circuit(source.model, batch, unit, fraction, stimuli=stimuli)
    base = output.with_name(output.stem + ".base.safetensors") if weights is None else Path(weights).resolve()
    text = draft_spec(extraction, source.model, base if weights is not None else Path(base.name), source.label, tuning)
    print(f"{unit} on {stimuli} ({source.label}), at position {list(extraction.position)}:")
    print(format_table(["edges kept", "activation kept (fidelity)"], [[k, f] for k, f in extraction.tried]))
    attribution = dict(extraction.ranked)
    print("\n" + format_table(["kept input", "edge attribution"], [[str(u), attribution[u]] for u in extraction.kept]))
    print(f"\n{len(extraction.kept)} of {len(extraction.ranked)} edges keep {extraction.fidelity:.1%} of {unit}'s activation "
          f"(asked {fraction:.0%}); the rest patched to their means")
    if weights is None:
        save_safetensors(source.model.state_dict(), base, weights_metadata(source.model))
    with atomic_target(output) as tmp:
        tmp.write_text(text)
    print(f"saved {output}" + (f" and its base {base}" if weights is None else "") + f"; rebuild it with `synthcircuits build {output}`")
    return 0
