"""Running an intervention spec over images: its interventions made concrete for a model (means
and source activations captured), then every image run clean and intervened, through the
dataset runner (local or Ray, resumable shards), reporting the target and the predictions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..dataset.items import Item, list_images
from ..dataset.runner import RunOptions, read_shards, run_and_read
from ..edit.effect import EffectReport, effect_from_shards, predictions, short_name
from ..edit.mirror_effect import Mirrored
from ..edit.spec import check_weights_architecture
from ..errors import UserError
from ..images import load_image
from ..labels import labels_for
from ..models.capture import capture
from ..tables import format_table
from .attribution import Target
from .interventions import Intervention, check_points, intervened
from .paths import Edge, input_point, path_patch
from .patch_spec import PatchOp, PatchSpec, patch_error

MEAN_BATCH = 16


@dataclass
class Plan:
    """A spec made concrete for one model and image size."""

    interventions: list[Intervention]
    edges: list[Edge]
    target: Target | None
    labels: list[str]  # one per operation, for the report

    def fingerprint(self) -> str:
        """A hash of every value the plan uses (means, source activations, numbers), so resumed
        shards are only reused for the same interventions, whatever the files now hold."""
        digest = hashlib.sha256()
        changes = [("", i) for i in self.interventions] + [(f"{e}|{e.positions}", e.change) for e in self.edges]
        for edge, change in changes:
            digest.update(f"{edge}|{change.point}|{change.operation}|{change.channels}|{change.positions}".encode())
            value = change.value
            digest.update(value.detach().cpu().contiguous().numpy().tobytes() if isinstance(value, Tensor) else repr(value).encode())
        return digest.hexdigest()


def plan(spec: PatchSpec, model: nn.Module, size: int) -> Plan:
    """Capture what the operations need (means over folders, activations of source images) and
    check every layer, channel and position against the model at `size` px."""
    arch = model.architecture
    check_weights_architecture(arch.name, spec.architecture, spec.architecture_location, "the model")
    points = [input_point(arch, op.target) if op.kind == "path" else op.layer for op in spec.ops]
    check_points(model, points + ([spec.target.layer] if spec.target else []))
    blank = capture(model, torch.zeros(1, 3, size, size), points + ([spec.target.layer] if spec.target else []))
    shapes = {p: v.shape[1:] for p, v in blank.items()}
    interventions, edges = [], []
    for op, point in zip(spec.ops, points):
        _check_where(op, point, shapes[point])
        change = _intervention(op, point, model, size)
        if op.kind == "path":
            edges.append(Edge(op.source, op.target, change, op.positions))
        else:
            interventions.append(change)
    target = None
    if spec.target is not None:
        position = None if spec.position in ("centre", "mean") else spec.position
        target = Target(spec.target.layer, spec.target.channel, position, spec.position == "mean")
        Target(spec.target.layer, spec.target.channel, position)(blank[spec.target.layer])  # a position off the map is refused here
    return Plan(interventions, edges, target, [op.label for op in spec.ops])


def _check_where(op: PatchOp, point: str, shape) -> None:
    channels = (op.source.channel,) if op.kind == "path" else op.channels or ()
    bad = [c for c in channels if c >= shape[0]]
    if bad:
        raise patch_error(op, f"{point} has {shape[0]} channels; no channel {bad[0]}")
    if op.positions and len(shape) != 3:
        raise patch_error(op, f"{point} has no positions", "drop positions:")
    for y, x in op.positions or ():
        if y >= shape[-2] or x >= shape[-1]:
            raise patch_error(op, f"{point} is {shape[-2]}x{shape[-1]} at this image size; no position [{y}, {x}]",
                              "positions are on the layer's map, not the image")


def _intervention(op: PatchOp, point: str, model: nn.Module, size: int) -> Intervention:
    """The concrete intervention; a file it reads that will not do is an error at the spec's line."""
    channels = None if op.kind == "path" else op.channels
    try:
        if op.operation == "mean":
            return Intervention(point, "mean", channels, op.positions, channel_means(model, point, op.path, size))
        if op.operation == "patch":
            source = capture(model, load_image(op.path, size)[None], [point])[point].detach()
            return Intervention.patch(point, source, channels, op.positions)
    except UserError as exc:
        raise patch_error(op, f"{op.operation}: {exc.message}", exc.hint) from None
    return Intervention(point, op.operation, channels, op.positions, op.value)


def channel_means(model: nn.Module, point: str, folder: Path, size: int) -> Tensor:
    """Per-channel mean of `point` over the images of `folder` and their positions (streamed)."""
    items = list_images(folder, architecture=model.architecture.name)
    if not items:
        raise UserError(f"{folder} holds no images to average over")
    total, count = None, 0
    for first in range(0, len(items), MEAN_BATCH):
        batch = torch.stack([load_image(item.path, size) for item in items[first : first + MEAN_BATCH]])
        acts = capture(model, batch, [point])[point].detach().double()
        sums = acts.sum(0) if acts.dim() == 2 else acts.sum((0, 2, 3))
        total = sums if total is None else total + sums
        count += acts.shape[0] * (acts[0, 0].numel() if acts.dim() == 4 else 1)
    return (total / count).float()


class PatchJob:
    """Per image: top-5 and class probabilities with and without the interventions, and the
    target's value both ways."""

    def __init__(self, model: nn.Module, plan: Plan, valid: range, describe: dict):
        self.model, self.plan, self.valid, self._describe = model.eval(), plan, valid, describe

    def to(self, device: str) -> PatchJob:
        return PatchJob(self.model.to(device), _plan_to(self.plan, device), self.valid, self._describe)

    def describe(self) -> dict:
        return self._describe

    def process(self, images: Tensor) -> dict[str, np.ndarray]:
        images = images.to(next(self.model.parameters()).device)
        classifier = self.model.architecture.classifier
        target = self.plan.target.centred(self.model, images.shape[-1]) if self.plan.target else None
        names = [classifier] + ([target.layer] if target else [])
        with torch.no_grad():
            others = self.plan.interventions
            interventions = others + path_patch(self.model, images, self.plan.edges, others)
            runs = {"before": intervened(self.model, images, [], names), "after": intervened(self.model, images, interventions, names)}
        out = {}
        for when, values in runs.items():
            p = torch.softmax(values[classifier].flatten(1), 1)
            out[f"{when}.top5"] = predictions(p, 5, self.valid).cpu().numpy()
            out[f"{when}.p"] = p.cpu().numpy().astype(np.float16)
            if target:
                out[f"target.{when}"] = target(values[target.layer]).cpu().numpy().astype(np.float64)
        return out


def _plan_to(plan: Plan, device: str) -> Plan:
    def moved(i: Intervention) -> Intervention:
        value = i.value.to(device) if isinstance(i.value, Tensor) else i.value
        return Intervention(i.point, i.operation, i.channels, i.positions, value)

    edges = [Edge(e.source, e.target, moved(e.change), e.positions) for e in plan.edges]
    return Plan([moved(i) for i in plan.interventions], edges, plan.target, plan.labels)


@dataclass
class PatchReport:
    effect: EffectReport
    target: str | None
    target_rows: list[tuple[str, float, float]]  # image, before, after
    operations: list[str]

    def tables(self, rows: int = 40) -> str:
        text = "interventions: " + "; ".join(self.operations)
        if self.target_rows:
            before = np.array([r[1] for r in self.target_rows])
            after = np.array([r[2] for r in self.target_rows])
            shown = [[name, b, a, a - b] for name, b, a in self.target_rows[:rows]]
            text += "\n\n" + format_table(["image", f"{self.target} before", "after", "change"], shown)
            text += (f"\n\n{self.target}: mean {before.mean():.4g} -> {after.mean():.4g} "
                     f"({(after.mean() - before.mean()) / max(abs(before.mean()), 1e-12):+.1%})")
        return text + "\n\n" + self.effect.tables(rows) + "\n\n" + self.top5_table(rows)

    def top5_table(self, rows: int) -> str:
        return format_table(["image", "top-5 before (p)", "top-5 after (p)"],
                            [[e.image, ", ".join(f"{c} {p:.3f}" for c, p in e.top5_before),
                              ", ".join(f"{c} {p:.3f}" for c, p in e.top5_after)] for e in self.effect.images[:rows]])

    def as_json(self) -> dict:
        return {"operations": self.operations, "target": self.target,
                "target_values": [{"image": n, "before": b, "after": a} for n, b, a in self.target_rows],
                **self.effect.as_json()}


def run_patch(model: nn.Module, plan_: Plan, items: Sequence[Item], options: RunOptions, describe: dict,
              folder: Path | None = None, ray: str | None = None, mirror: bool = False) -> PatchReport:
    """With `mirror`, every image also runs flipped left to right (`EffectReport.mirror`)."""
    arch = model.architecture.name
    _, valid = labels_for(arch)
    job = Mirrored(PatchJob(model, plan_, valid, describe)) if mirror else PatchJob(model, plan_, valid, describe)
    return run_and_read(job, items, folder, options, lambda paths: _report(paths, items, arch, plan_), ray=ray)


def _report(paths: list[Path], items: Sequence[Item], arch: str, plan_: Plan) -> PatchReport:
    effect = effect_from_shards(paths, items, arch, top5=True)
    rows = []
    if plan_.target is not None:
        for shard in read_shards(paths):
            for k, index in enumerate(shard["index"]):
                rows.append((short_name(items[int(index)]), float(shard["target.before"][k]), float(shard["target.after"][k])))
    return PatchReport(effect, str(plan_.target) if plan_.target else None, rows, plan_.labels)

