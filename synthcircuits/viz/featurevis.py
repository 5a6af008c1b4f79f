"""Feature visualisation: images that most excite units, channels, directions, or any sum of them.

Each image lives in a decorrelated Fourier basis (spectrum scaled by 1/frequency, colours
through ImageNet's colour correlation), is judged under random jitter, scale and rotation,
and optimised with Adam; the network runs only up to the deepest layer any objective reads.
After Lucid and Lucent.

Many objectives are optimised together: `visualise_many` groups requests by canvas
(receptive-field canvases for single units, see `canvas.py`), stacks each group into
batches that fit the memory budget, and runs one forward and backward per step for the
whole batch. Every image has its own seeded generator for its start and its transforms, so
an image comes out the same whether it is optimised alone or in a batch of 32 (up to float
rounding), and a report's picture of a unit is `vis UNIT` with the same settings.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from ..limits import FORWARD_BYTES_PER_PIXEL, check_network_input, memory_budget
from ..models.capture import capture
from ..threads import ThreadTuner
from ..layout.geometry import Cone
from .canvas import JITTERS, PAD, Canvas, plan_canvas
from .objectives import Activations, Objective

# Square root of ImageNet's colour correlation (Lucid's color_correlation_svd_sqrt).
COLOR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_CORRELATION_SQRT = COLOR_CORRELATION_SQRT / COLOR_CORRELATION_SQRT.norm(dim=0).max()

MAX_BATCH = 32  # images per forward on a CPU; larger batches stop paying there


@dataclass(frozen=True)
class Request:
    """`images` pictures of `objective`, image j started from seed `seed + j`."""

    objective: Objective
    images: int = 1
    seed: int = 0


@dataclass(frozen=True)
class Settings:
    steps: int = 256
    size: int = 128  # side of a full canvas, px
    lr: float = 0.05
    thresholds: tuple[int, ...] = ()  # also keep the images at these steps
    redirect_steps: int = 16  # steps with a leaky ReLU gradient, so silent units can be reached
    canvas: str = "full"  # "receptive": single units get a canvas of their receptive field
    max_batch: int = MAX_BATCH


@dataclass
class Picture:
    """One request's result: images (n, 3, shown, shown) at each kept step (see `Canvas.shown`), and its canvas."""

    request: Request
    canvas: Canvas
    snapshots: dict[int, Tensor] = field(default_factory=dict)

    @property
    def final(self) -> Tensor:
        return self.snapshots[max(self.snapshots)]


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


def fourier_image(generators: Sequence[torch.Generator], size: int, device, decay: float = 1.0):
    """A trainable spectrum per generator (each drawn from its own) and a function mapping
    them to RGB images in (0, 1)."""
    freqs_y = torch.fft.fftfreq(size, device=device)[:, None]
    freqs_x = torch.fft.rfftfreq(size, device=device)[None, :]
    scale = 1.0 / torch.maximum(torch.sqrt(freqs_x**2 + freqs_y**2), torch.tensor(1.0 / size, device=device)) ** decay
    # With norm="ortho" this matches Lucid's energy normalisation (its irfft2d times sqrt(h*w)).
    start = torch.cat([torch.randn(1, 3, size, size // 2 + 1, 2, generator=g) for g in generators]) * 0.01
    spectrum = start.to(device).requires_grad_(True)
    colours = COLOR_CORRELATION_SQRT.to(device)

    def to_image() -> Tensor:
        complex_spectrum = torch.view_as_complex(spectrum) * scale
        spatial = torch.fft.irfft2(complex_spectrum, s=(size, size), norm="ortho") / 4.0
        return torch.sigmoid(torch.einsum("nchw,dc->ndhw", spatial, colours))

    return spectrum, to_image


@dataclass(frozen=True)
class Transform:
    """One image's random transform for one step: two crops, a scale and a rotation."""

    first: tuple[int, int]  # (dx, dy) of the first jitter
    scale: float
    angle: float  # radians
    second: tuple[int, int]

    @classmethod
    def draw(cls, generator: torch.Generator) -> Transform:
        first = tuple(int(v) for v in torch.randint(0, JITTERS[0] + 1, (2,), generator=generator))
        scale = 1 + (int(torch.randint(0, 11, (1,), generator=generator)) - 5) / 50
        angle = math.radians(float(torch.randint(-10, 11, (1,), generator=generator)))
        second = tuple(int(v) for v in torch.randint(0, JITTERS[1] + 1, (2,), generator=generator))
        return cls(first, scale, angle, second)


def _jitter(x: Tensor, offsets: Sequence[tuple[int, int]], d: int) -> Tensor:
    h, w = x.shape[-2:]
    return torch.stack([image[:, dy : h - (d - dy), dx : w - (d - dx)] for image, (dx, dy) in zip(x, offsets)])


def robustness(images: Tensor, generators: Sequence[torch.Generator]) -> Tensor:
    """Pad, jitter, scale, rotate and jitter again, each by a random amount drawn per image
    from that image's generator (Lucent's standard set)."""
    transforms = [Transform.draw(g) for g in generators]
    x = _jitter(F.pad(images, (PAD,) * 4, value=0.5), [t.first for t in transforms], JITTERS[0])
    theta = torch.tensor([[[math.cos(t.angle) / t.scale, -math.sin(t.angle) / t.scale, 0.0],
                           [math.sin(t.angle) / t.scale, math.cos(t.angle) / t.scale, 0.0]] for t in transforms],
                         dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    return _jitter(x, [t.second for t in transforms], JITTERS[1])


def centre_window(x: Tensor, side: int) -> Tensor:
    top = (x.shape[-2] - side) // 2
    left = (x.shape[-1] - side) // 2
    return x[..., top : top + side, left : left + side]


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
    canvas: str = "full",
    progress: bool = True,
) -> dict[int, Tensor]:
    """Optimise `batch` images for one objective; returns {step: images (batch, 3, side, side)}
    at each threshold and at the last step."""
    settings = Settings(steps, size, lr, tuple(thresholds), redirect_steps, canvas)
    (picture,) = visualise_many(model, [Request(objective, batch, seed)], settings, progress=progress)
    return picture.snapshots


def visualise_many(model: nn.Module, requests: Sequence[Request], settings: Settings = Settings(),
                   progress: bool = True) -> list[Picture]:
    """Optimise every request, batched by canvas; results in the order of `requests`."""
    geometry = _geometry(model) if settings.canvas == "receptive" else None
    pictures = [Picture(r, plan_canvas(r.objective, geometry, settings.size, settings.canvas)) for r in requests]
    groups: dict[Canvas, list[Picture]] = {}
    for picture in pictures:
        groups.setdefault(picture.canvas, []).append(picture)
    with torch.enable_grad(), _weights_frozen(model), tqdm(total=len(requests), desc="feature visualisation", unit="unit", disable=not progress,
                                   leave=False, bar_format="{l_bar}{bar}| {n:.0f}/{total} [{elapsed}<{remaining}, {rate_fmt}]") as bar:
        tuner = ThreadTuner()
        try:
            for canvas, members in groups.items():
                for chunk in _chunks(members, canvas, settings):
                    _optimise(model, chunk, canvas, settings, bar, tuner)
        finally:
            tuner.close()
    return pictures


@contextmanager
def _weights_frozen(model: nn.Module):
    """Only the images are optimised: without weight gradients every backward does about half the work."""
    wanted = [p for p in model.parameters() if p.requires_grad]
    for p in wanted:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in wanted:
            p.requires_grad_(True)


def _geometry(model: nn.Module):
    try:
        return model.geometry()
    except (AttributeError, NotImplementedError):
        return None


def batch_limit(canvas: Canvas, settings: Settings) -> int:
    """Images per batch: at most `max_batch`, and what a forward and backward at this size fit in memory."""
    side = canvas.network_side
    per_image = side * side * FORWARD_BYTES_PER_PIXEL * 3
    return max(1, min(settings.max_batch, memory_budget() // per_image))


def _chunks(members: list[Picture], canvas: Canvas, settings: Settings) -> list[list[Picture]]:
    limit = batch_limit(canvas, settings)
    chunks: list[list[Picture]] = [[]]
    for picture in members:
        # One request's images are optimised together: a request that alone exceeds the budget is refused, not tried.
        check_network_input(picture.request.images, canvas.network_side, canvas.network_side,
                            f"a feature visualisation of {picture.request.images} image(s)", backward=True)
        if chunks[-1] and sum(p.request.images for p in chunks[-1]) + picture.request.images > limit:
            chunks.append([])
        chunks[-1].append(picture)
    return chunks


def _optimise(model: nn.Module, chunk: list[Picture], canvas: Canvas, settings: Settings, bar: tqdm, tuner: ThreadTuner) -> None:
    device = next(model.parameters()).device
    generators = [torch.Generator().manual_seed(p.request.seed + j) for p in chunk for j in range(p.request.images)]
    spectrum, to_image = fourier_image(generators, canvas.side, device)
    optimizer = torch.optim.Adam([spectrum], lr=settings.lr)
    layers = sorted(frozenset().union(*(p.request.objective.layers() for p in chunk)))
    for p in chunk:
        p.request.objective.prepare(model, canvas.network_side)
    view = View.of(model, canvas)
    keep = {t for t in settings.thresholds if t <= settings.steps} | {settings.steps}
    if 0 in keep:
        _snapshot(chunk, to_image, canvas, 0)
    for step in range(1, settings.steps + 1):
        tuner.tick()
        optimizer.zero_grad()
        relu = RedirectedReLU.apply if step <= settings.redirect_steps else None
        acts = view.run(model, robustness(centre_window(to_image(), canvas.reach), generators), layers, grad=True, relu=relu)
        total, start = 0.0, 0
        for p in chunk:
            total = total + p.request.objective(acts.images(start, start + p.request.images)).sum()
            start += p.request.images
        (-total).backward()
        optimizer.step()
        if step in keep:
            _snapshot(chunk, to_image, canvas, step)
        bar.update(len(chunk) / settings.steps)


def _snapshot(chunk: list[Picture], to_image, canvas: Canvas, step: int) -> None:
    with torch.no_grad():
        images = centre_window(to_image().detach(), canvas.shown).cpu()
    start = 0
    for p in chunk:
        p.snapshots[step] = images[start : start + p.request.images]
        start += p.request.images


@dataclass(frozen=True)
class View:
    """What the network is run on: the whole transformed image (full canvas), or the centre
    window of a receptive-field canvas; on staged networks only the unit's cone of it."""

    canvas: Canvas
    cone: Cone | None = None

    @classmethod
    def of(cls, model: nn.Module, canvas: Canvas) -> View:
        if canvas.window is None or hasattr(model, "run_tapped"):  # traced networks run whole maps
            return cls(canvas)
        geometry = _geometry(model)
        cone = geometry.cone(canvas.layer, canvas.window, canvas.position) if geometry is not None else None
        if cone is None or [name for name, _ in model.stages()][: len(cone.stages)] != list(cone.stages):
            return cls(canvas)
        return cls(canvas, cone)

    def run(self, model: nn.Module, images: Tensor, layers: Sequence[str], grad: bool = False, relu=None) -> Activations:
        canvas, cone = self.canvas, self.cone
        if canvas.window is None:
            return Activations(capture(model, images, layers, grad=grad, relu=relu))
        images = centre_window(images, canvas.window)
        if cone is None:
            return Activations(capture(model, images, layers, grad=grad, relu=relu), {canvas.layer: (canvas.position,) * 2})
        first, last = cone.input
        values = capture(model, images[..., first : last + 1, first : last + 1], layers, grad=grad, relu=relu, crops=cone.crops)
        return Activations(values, {canvas.layer: (cone.position,) * 2})


def score(model: nn.Module, objective: Objective, images: Tensor, canvas: Canvas) -> Tensor:
    """The objective's value on finished pictures, untransformed: the centre window of a
    receptive-field canvas, or the whole of a full one. One value per image."""
    with torch.no_grad():
        objective.prepare(model, canvas.window if canvas.window is not None else images.shape[-1])
        return objective(View.of(model, canvas).run(model, images, sorted(objective.layers())))
