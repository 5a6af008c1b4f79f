"""Attribution: how much each unit of an earlier layer, at each position, contributed to a target.

- gradient x activation: the first-order estimate, one forward and backward;
- integrated gradients: the earlier layer's activations are moved from a baseline (zeros, or
  the activations of baseline images) to their real values in `steps` equal steps, and the
  target's gradient is averaged along the way. The attributions then sum to
  f(input) - f(baseline) (completeness), up to the step count's discretisation.

The steps run in chunks of `chunk` at a time, so memory depends on the chunk, not the steps.
The earlier layer's values are swapped in through the run's tap: no hooks on the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import UserError
from ..models.capture import capture, check_names
from .interventions import Intervention, intervened


@dataclass(frozen=True)
class Target:
    """A unit at a position (default: the centre, the position whose receptive field is centred
    on the image; see `centred`), or the mean of its channel over positions (`mean=True`); for a
    vector layer (logits, probabilities) one entry."""

    layer: str
    channel: int
    position: tuple[int, int] | None = None
    mean: bool = False

    def __call__(self, acts: Tensor) -> Tensor:
        if acts.dim() == 2:
            return acts[:, self.channel]
        values = acts[:, self.channel]
        if self.mean:
            return values.flatten(1).mean(1)
        y, x = self.position if self.position is not None else (values.shape[-2] // 2, values.shape[-1] // 2)
        if not (0 <= y < values.shape[-2] and 0 <= x < values.shape[-1]):
            raise UserError(f"{self.layer} is {values.shape[-2]}x{values.shape[-1]}; no position ({y}, {x})")
        return values[:, y, x]

    def centred(self, model: nn.Module, image_size: int) -> Target:
        """This target with the centre made explicit: the position whose receptive field is
        centred on an `image_size` image (the middle of the map where the geometry is unknown)."""
        if self.position is not None or self.mean:
            return self
        geometry = model.geometry() if hasattr(model, "geometry") else None
        if geometry is None or not geometry.knows(self.layer):
            return self
        try:
            p = geometry.centre_position(self.layer, image_size)
        except ValueError:
            return self
        return Target(self.layer, self.channel, (p, p))

    def __str__(self) -> str:
        where = "mean" if self.mean else ("centre" if self.position is None else f"({self.position[0]}, {self.position[1]})")
        return f"{self.layer}:{self.channel} at {where}"


@dataclass
class Attribution:
    """values: (N, C, H, W) at layer `layer`; `target_input` and `target_baseline`: (N,) target
    values on the input and with the layer at its baseline (equal to zero for gradient x
    activation, which has no baseline)."""

    layer: str
    values: Tensor
    target_input: Tensor
    target_baseline: Tensor

    @property
    def per_channel(self) -> Tensor:
        return self.values.sum((-2, -1)) if self.values.dim() == 4 else self.values

    @property
    def completeness_gap(self) -> Tensor:
        """(sum of attributions - (f(input) - f(baseline))) relative to |f(input) - f(baseline)|."""
        total = self.values.flatten(1).sum(1)
        change = self.target_input - self.target_baseline
        return (total - change).abs() / change.abs().clamp_min(1e-12)


def gradient_times_activation(model: nn.Module, images: Tensor, target: Target, layer: str) -> Attribution:
    images = images.to(next(model.parameters()).device)
    target = target.centred(model, images.shape[-1])
    acts = _checked(model, images, target, layer)
    grads = _gradient_sum(model, images, target, layer, acts, torch.ones(1, device=acts.device), torch.zeros_like(acts))
    values = acts * grads
    return Attribution(layer, values, target(capture(model, images, [target.layer])[target.layer]).detach(), torch.zeros(len(images), device=acts.device))


def integrated_gradients(model: nn.Module, images: Tensor, target: Target, layer: str, *, baseline: Tensor | None = None,
                         steps: int = 32, chunk: int = 8) -> Attribution:
    """Integrated gradients at `layer`, midpoint rule over `steps` points, `chunk` points per
    forward. `baseline`: images whose `layer` activations are the starting point (None: zeros)."""
    if steps < 1 or chunk < 1:
        raise UserError("steps and chunk must be at least 1")
    images = images.to(next(model.parameters()).device)
    target = target.centred(model, images.shape[-1])
    acts = _checked(model, images, target, layer)
    start = torch.zeros_like(acts) if baseline is None else capture(model, baseline.to(images).expand_as(images), [layer])[layer].detach()
    alphas = (torch.arange(steps, dtype=acts.dtype, device=acts.device) + 0.5) / steps
    total = torch.zeros_like(acts)
    for first in range(0, steps, chunk):
        total += _gradient_sum(model, images, target, layer, acts, alphas[first : first + chunk], start)
    values = (acts - start) * total / steps
    return Attribution(layer, values, _target_with(model, images, target, layer, acts), _target_with(model, images, target, layer, start))


def _checked(model: nn.Module, images: Tensor, target: Target, layer: str) -> Tensor:
    check_names(model, [layer, target.layer])
    if layer != target.layer and not comes_before(model, layer, target.layer):
        raise UserError(f"{layer} does not come before {target.layer}", hint="attribute to an earlier layer")
    return capture(model, images, [layer])[layer].detach()


def comes_before(model: nn.Module, earlier: str, later: str) -> bool:
    """Whether `earlier` is computed before `later` in the forward (stage order for staged
    networks, layer-table order for traced ones)."""
    if hasattr(model, "run_tapped"):
        arch = model.architecture
        return arch.index(earlier) < arch.index(later)
    order = {name: i for i, (name, _) in enumerate(model.stages())}
    points = model.hook_points()
    return order[points[earlier]] < order[points[later]]


def _gradient_sum(model, images, target, layer, acts, alphas, start) -> Tensor:
    """Sum over `alphas` of d target / d layer at start + alpha * (acts - start)."""
    k, n = len(alphas), len(images)
    shape = (k, n) + tuple(acts.shape[1:])
    points = (start[None] + alphas.view(-1, *([1] * acts.dim())).to(acts) * (acts - start)[None]).reshape(k * n, *acts.shape[1:])
    points.requires_grad_(True)
    with torch.enable_grad():
        out = intervened(model, images.repeat(k, *([1] * (images.dim() - 1))), [Intervention.patch(layer, points)], [target.layer])
        (grad,) = torch.autograd.grad(target(out[target.layer]).sum(), points)
    return grad.reshape(shape).sum(0)


def _target_with(model, images, target, layer, values) -> Tensor:
    with torch.no_grad():
        return target(intervened(model, images, [Intervention.patch(layer, values)], [target.layer])[target.layer])
