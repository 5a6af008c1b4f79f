"""Feature visualisation: the image that most excites a unit, channel or layer direction.

The image lives in a decorrelated Fourier basis (spectrum scaled by 1/frequency, colours
through ImageNet's colour correlation), is judged under random jitter, scale and
rotation, and optimised with Adam; the network runs only up to the target layer. Seeded:
the same call gives the same picture. After Lucid and Lucent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ..models.capture import capture

# Square root of ImageNet's colour correlation (Lucid's color_correlation_svd_sqrt).
COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_CORRELATION_SQRT = COLOR_CORRELATION_SQRT / COLOR_CORRELATION_SQRT.norm(dim=0).max()


@dataclass(frozen=True)
class Objective:
    """What to maximise in `layer`: one unit at the centre (`neuron`), a whole channel's mean,
    or the dot product with a direction over the layer's channels (at the centre)."""

    layer: str
    channel: int | None = None
    kind: str = "neuron"  # "neuron", "channel", "direction"
    direction: Tensor | None = None

    def __call__(self, acts: Tensor) -> Tensor:
        if acts.dim() == 2:  # logits or probabilities: one value per class
            return acts @ self.direction.to(acts) if self.kind == "direction" else acts[:, self.channel]
        h, w = acts.shape[-2:]
        if self.kind == "channel":
            return acts[:, self.channel].mean((1, 2))
        centre = acts[:, :, h // 2, w // 2]
        if self.kind == "direction":
            return centre @ self.direction.to(centre)
        return centre[:, self.channel]


class RedirectedReLU(torch.autograd.Function):
    """ReLU forward; backward also lets a tenth of the gradient through where the input is
    negative, so a unit whose inputs start silent can still be reached (early steps only)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad, grad * 0.1)


def fourier_image(batch: int, size: int, generator: torch.Generator, device, decay: float = 1.0):
    """A trainable spectrum and a function mapping it to RGB images in (0, 1)."""
    freqs_y = torch.fft.fftfreq(size, device=device)[:, None]
    freqs_x = torch.fft.rfftfreq(size, device=device)[None, :]
    scale = 1.0 / torch.maximum(torch.sqrt(freqs_x**2 + freqs_y**2), torch.tensor(1.0 / size, device=device)) ** decay
    # With norm="ortho" this matches Lucid's energy normalisation (its irfft2d times sqrt(h*w)).
    spectrum = (torch.randn(batch, 3, size, size // 2 + 1, 2, generator=generator) * 0.01).to(device).requires_grad_(True)

    def to_image() -> Tensor:
        complex_spectrum = torch.view_as_complex(spectrum) * scale
        spatial = torch.fft.irfft2(complex_spectrum, s=(size, size), norm="ortho") / 4.0
        decorrelated = torch.einsum("nchw,dc->ndhw", spatial, COLOR_CORRELATION_SQRT.to(device))
        return torch.sigmoid(decorrelated)

    return spectrum, to_image


def robustness(images: Tensor, generator: torch.Generator) -> Tensor:
    """Pad, jitter, scale, rotate and jitter again, each by a random amount (Lucent's standard set)."""
    n, _, h, w = images.shape
    x = F.pad(images, (12, 12, 12, 12), value=0.5)

    def jitter(t: Tensor, d: int) -> Tensor:
        dx, dy = (int(v) for v in torch.randint(0, d + 1, (2,), generator=generator))
        return t[..., dy : t.shape[-2] - (d - dy), dx : t.shape[-1] - (d - dx)]

    x = jitter(x, 8)
    scale = 1 + (int(torch.randint(0, 11, (1,), generator=generator)) - 5) / 50
    angle = math.radians(float(torch.randint(-10, 11, (1,), generator=generator)))
    c, s = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[c, -s, 0.0], [s, c, 0.0]], dtype=x.dtype, device=x.device).expand(n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    return jitter(x, 4)


def visualise(
    model: nn.Module,
    objective: Objective,
    *,
    steps: int = 256,
    size: int = 128,
    batch: int = 1,
    lr: float = 0.05,
    seed: int = 0,
    thresholds: Sequence[int] = (),
    redirect_steps: int = 16,
    progress: bool = True,
) -> dict[int, Tensor]:
    """Optimise images for `objective`; returns {step: images (batch, 3, size, size)} at each
    threshold and at the last step."""
    with torch.enable_grad():  # callers may have switched autograd off; the optimisation needs it
        return _optimise(model, objective, steps, size, batch, lr, seed, thresholds, redirect_steps, progress)


def _optimise(model, objective, steps, size, batch, lr, seed, thresholds, redirect_steps, progress) -> dict[int, Tensor]:
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    spectrum, to_image = fourier_image(batch, size, generator, device)
    optimizer = torch.optim.Adam([spectrum], lr=lr)
    keep = {t for t in thresholds if t <= steps} | {steps}
    snapshots: dict[int, Tensor] = {}
    if 0 in keep:
        snapshots[0] = to_image().detach().cpu()
    for step in tqdm(range(1, steps + 1), desc=f"visualising {objective.layer}:{objective.channel}", disable=not progress, leave=False):
        optimizer.zero_grad()
        relu = RedirectedReLU.apply if step <= redirect_steps else None
        acts = capture(model, robustness(to_image(), generator), [objective.layer], grad=True, relu=relu)[objective.layer]
        loss = -objective(acts).sum()
        loss.backward()
        optimizer.step()
        if step in keep:
            snapshots[step] = to_image().detach().cpu()
    return snapshots
