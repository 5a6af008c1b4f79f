"""Batched, deterministic, anti-aliased stimuli, rendered in torch.

Every renderer takes per-stimulus parameters as 1-D tensors (or scalars, broadcast) and
returns a batch (N, 3, size, size) of RGB in [0, 1]. Angles follow the toolkit's
convention (degrees counter-clockwise on screen, 0 pointing right); `center` is in pixels
(continuous coordinates: pixel i spans [i, i + 1)), default the image centre.
Anti-aliasing: ink coverage falls off linearly over one pixel at every stroke edge.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

Number = float | int | Tensor


def _batch(*values: Number) -> list[Tensor]:
    """Broadcast parameters to 1-D float tensors of one common length."""
    tensors = [torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in values]
    n = max(t.numel() for t in tensors)
    return [t.expand(n) if t.numel() == 1 else t for t in tensors]


def _frame(size: int, center: tuple[float, float] | None, n: int) -> tuple[Tensor, Tensor]:
    """x (right) and y (up) of each pixel centre relative to `center`, shape (1, size, size)."""
    cx, cy = center if center is not None else (size / 2, size / 2)
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    x = (coords - cx).view(1, 1, size)
    y = (cy - coords).view(1, size, 1)
    return x, y


def _colours(value, default: float, n: int) -> Tensor:
    if value is None:
        return torch.full((n, 3), default)
    return torch.as_tensor(value, dtype=torch.float32).reshape(-1, 3).expand(n, 3)


def _paint(ink: Tensor, foreground=None, background=None, polarity=None) -> Tensor:
    """Mix colours by ink coverage (N, H, W) -> (N, 3, H, W). Default: black ink on white.

    Grey stimuli come back as a 3-channel view of one channel: a third of the memory.
    """
    n = ink.shape[0]
    fg, bg = _colours(foreground, 0.0, n), _colours(background, 1.0, n)
    if polarity is not None:  # polarity -1 swaps ink and paper
        flip = (torch.as_tensor(polarity, dtype=torch.float32).reshape(-1).expand(n) < 0).view(n, 1)
        fg, bg = torch.where(flip, bg, fg), torch.where(flip, fg, bg)
    if bool((fg == fg[:, :1]).all() and (bg == bg[:, :1]).all()):
        grey = ink.mul_((fg[:, 0] - bg[:, 0]).view(n, 1, 1)).add_(bg[:, 0].view(n, 1, 1))
        return grey.unsqueeze(1).expand(n, 3, *ink.shape[1:])
    ink = ink.unsqueeze(1)
    return bg.view(n, 3, 1, 1) + (fg - bg).view(n, 3, 1, 1) * ink


def _stroke_(distance: Tensor, width: Tensor) -> Tensor:
    """In place: coverage of a stroke of `width` px at unsigned `distance` from its centre line."""
    return distance.neg_().add_(width.view(-1, 1, 1) / 2 + 0.5).clamp_(0, 1)


def arcs(
    orientation: Number,
    radius: Number = 60.0,
    *,
    width: Number = 3.0,
    span: Number = 90.0,
    size: int = 224,
    center: tuple[float, float] | None = None,
    polarity: Number | None = None,
    foreground=None,
    background=None,
) -> Tensor:
    """Circular arcs whose midpoint sits on `center` and whose convex side faces `orientation`.

    `span` is the arc's full angular extent in degrees; `radius` in pixels (curvature 1/radius).
    """
    orientation, radius, width, span = _batch(orientation, radius, width, span)
    n = orientation.numel()
    x, y = _frame(size, center, n)
    t = torch.deg2rad(orientation)
    c, s, r = torch.cos(t).view(-1, 1, 1), torch.sin(t).view(-1, 1, 1), radius.view(-1, 1, 1)
    # Position relative to the centre of curvature (behind the convex side); x- and y-only
    # terms are (N, 1, W) and (N, H, 1), so only their combinations cost a full image.
    px, py = x + r * c, y + r * s
    rho = (px * px).add(py * py).sqrt_()  # (N, H, W)
    # How far past the arc's ends a point lies, measured along the arc: the projection on
    # the midpoint direction against rho * cos(span / 2), over sin(span / 2).
    half = torch.deg2rad(span / 2).clamp(max=math.pi).view(-1, 1, 1)
    past_end = (rho * torch.cos(half)).sub_(px * c + py * s).div_(torch.sin(half).clamp(min=0.05)).clamp_(min=0)
    distance = rho.sub_(r).abs_().hypot_(past_end)
    return _paint(_stroke_(distance, width), foreground, background, polarity)


def lines(
    orientation: Number,
    *,
    length: Number = math.inf,
    width: Number = 3.0,
    size: int = 224,
    center: tuple[float, float] | None = None,
    polarity: Number | None = None,
    foreground=None,
    background=None,
) -> Tensor:
    """Straight strokes through `center` at `orientation` (0: horizontal), `length` pixels long."""
    orientation, length, width = _batch(orientation, length, width)
    x, y = _frame(size, center, orientation.numel())
    t = torch.deg2rad(orientation).view(-1, 1, 1)
    c, s = torch.cos(t), torch.sin(t)
    distance = (y * c).sub(x * s).abs_()
    if torch.isfinite(length).any():
        overshoot = (x * c + y * s).abs_().sub_(length.view(-1, 1, 1) / 2).clamp_(min=0)
        distance = distance.hypot_(overshoot)
    return _paint(_stroke_(distance, width), foreground, background, polarity)


def edges(orientation: Number, *, size: int = 224, center=None, foreground=None, background=None) -> Tensor:
    """A straight boundary at `orientation`: `foreground` on the side its normal (+90 deg) points to."""
    (orientation,) = _batch(orientation)
    x, y = _frame(size, center, orientation.numel())
    t = torch.deg2rad(orientation).view(-1, 1, 1)
    signed = (y * torch.cos(t)).sub(x * torch.sin(t))
    return _paint(signed.add_(0.5).clamp_(0, 1), foreground, background, None)


def gabor_patches(
    orientation: Number, *, wavelength: Number = 8.0, sigma: Number = 12.0, phase: Number = 0.0,
    contrast: Number = 1.0, size: int = 224, center=None,
) -> Tensor:
    """Grey Gabor patches: stripes along `orientation`, on mid-grey."""
    orientation, wavelength, sigma, phase, contrast = _batch(orientation, wavelength, sigma, phase, contrast)
    x, y = _frame(size, center, orientation.numel())
    t = torch.deg2rad(orientation).view(-1, 1, 1)
    across = -x * torch.sin(t) + y * torch.cos(t)
    envelope = torch.exp(-(x * x + y * y) / (2 * sigma.view(-1, 1, 1) ** 2))
    carrier = torch.cos(2 * math.pi * across / wavelength.view(-1, 1, 1) + torch.deg2rad(phase).view(-1, 1, 1))
    grey = 0.5 + 0.5 * contrast.view(-1, 1, 1) * envelope * carrier
    return grey.unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


def center_surround(
    center_radius: Number = 10.0, *, surround_radius: Number = 30.0, center_color=(1.0, 1.0, 1.0),
    surround_color=(0.0, 0.0, 0.0), background=(0.5, 0.5, 0.5), size: int = 224, center=None,
) -> Tensor:
    """A disc of one colour inside a ring of another, on a background; also colour contrast."""
    cr, sr = _batch(center_radius, surround_radius)
    n = cr.numel()
    x, y = _frame(size, center, n)
    r = torch.sqrt(x * x + y * y)
    inner = (cr.view(-1, 1, 1) + 0.5 - r).clamp(0, 1)
    outer = (sr.view(-1, 1, 1) + 0.5 - r).clamp(0, 1) - inner
    colours = [torch.as_tensor(c, dtype=torch.float32).reshape(-1, 3).expand(n, 3).view(n, 3, 1, 1) for c in (center_color, surround_color, background)]
    inner, outer = inner.unsqueeze(1), outer.unsqueeze(1)
    return colours[2] + (colours[0] - colours[2]) * inner + (colours[1] - colours[2]) * outer


def color_contrast(orientation: Number, colors=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)), *, size: int = 224, center=None) -> Tensor:
    """Two colours meeting at a straight boundary: the first on the side the normal points to."""
    return edges(orientation, size=size, center=center, foreground=colors[0], background=colors[1])


def _across(orientation: Tensor, size: int, center) -> Tensor:
    """Signed distance of each pixel from the line through `center` at `orientation`, positive
    on the side its normal (+90 deg) points to: (N, size, size)."""
    x, y = _frame(size, center, orientation.numel())
    t = torch.deg2rad(orientation).view(-1, 1, 1)
    return (y * torch.cos(t)).sub(x * torch.sin(t))


def gratings(orientation: Number, *, wavelength: Number = 8.0, phase: Number = 0.0, contrast: Number = 1.0,
             size: int = 224, center=None) -> Tensor:
    """Full-field grey sine gratings: stripes along `orientation`, `wavelength` px apart; phase 0
    puts a bright stripe's centre on `center`."""
    orientation, wavelength, phase, contrast = _batch(orientation, wavelength, phase, contrast)
    across = _across(orientation, size, center)
    carrier = torch.cos(2 * math.pi * across / wavelength.view(-1, 1, 1) + torch.deg2rad(phase).view(-1, 1, 1))
    return (0.5 + 0.5 * contrast.view(-1, 1, 1) * carrier).unsqueeze(1).expand(-1, 3, -1, -1)


def half_gratings(orientation: Number, *, wavelength: Number = 3.0, other_wavelength: Number = math.inf,
                  size: int = 224, center=None) -> Tensor:
    """High-low frequency: a grating of `wavelength` on the side the normal (+90 deg) points to and
    one of `other_wavelength` (inf: flat mid-grey) on the other, meeting on a straight boundary."""
    orientation, wavelength, other = _batch(orientation, wavelength, other_wavelength)
    across = _across(orientation, size, center)
    near = torch.cos(2 * math.pi * across / wavelength.view(-1, 1, 1))
    far = torch.where(torch.isfinite(other).view(-1, 1, 1), torch.cos(2 * math.pi * across / other.clamp(max=1e9).view(-1, 1, 1)),
                      torch.zeros(()))
    side = across.add(0.5).clamp_(0, 1)
    return (0.5 + 0.5 * (side * near + (1 - side) * far)).unsqueeze(1).expand(-1, 3, -1, -1)


def hatches(orientation: Number, *, wavelength: Number = 8.0, width: Number = 1.5, size: int = 224, center=None) -> Tensor:
    """Cross-hatching: dark strokes `wavelength` px apart along `orientation` and across it, on white."""
    orientation, wavelength, width = _batch(orientation, wavelength, width)
    ink = torch.zeros(orientation.numel(), size, size)
    for turn in (0.0, 90.0):
        across = _across(orientation + turn, size, center)
        lam = wavelength.view(-1, 1, 1)
        distance = (across - lam * torch.round(across / lam)).abs_()
        ink = torch.maximum(ink, _stroke_(distance, width))
    return _paint(ink)


def ramps(orientation: Number, *, extent: Number = 32.0, size: int = 224, center=None) -> Tensor:
    """Brightness gradients: black to white over `extent` px, rising towards the normal (+90 deg)."""
    orientation, extent = _batch(orientation, extent)
    across = _across(orientation, size, center)
    return (across / extent.view(-1, 1, 1) + 0.5).clamp_(0, 1).unsqueeze(1).expand(-1, 3, -1, -1)


def rays(directions: Tensor, *, length: Number = 32.0, width: Number = 3.0, size: int = 224, center=None) -> Tensor:
    """Dark strokes from `center` outwards, `length` px long, one per direction (degrees; shape
    (N, K): K rays per image), on white. Two rays make an angle, four a cross."""
    directions = torch.as_tensor(directions, dtype=torch.float32)
    directions = directions.reshape(-1, directions.shape[-1] if directions.dim() > 1 else 1)
    n = directions.shape[0]
    length, width = _batch(length, width)
    length, width = length.expand(n) if length.numel() == 1 else length, width.expand(n) if width.numel() == 1 else width
    x, y = _frame(size, center, n)
    distance = torch.full((n, size, size), math.inf)
    for k in range(directions.shape[1]):
        t = torch.deg2rad(directions[:, k]).view(-1, 1, 1)
        along = x * torch.cos(t) + y * torch.sin(t)
        beside = (y * torch.cos(t)).sub(x * torch.sin(t)).abs_()
        past = torch.maximum(-along, along - length.view(-1, 1, 1)).clamp_(min=0)
        distance = torch.minimum(distance, beside.hypot(past))
    return _paint(_stroke_(distance, width))


def rings(radius: Number, *, width: Number = 3.0, size: int = 224, center=None, polarity: Number | None = None) -> Tensor:
    """Circles of `radius` px around `center`: dark strokes on white (polarity -1: white on black)."""
    radius, width = _batch(radius, width)
    x, y = _frame(size, center, radius.numel())
    distance = ((x * x + y * y).sqrt() - radius.view(-1, 1, 1)).abs_()
    return _paint(_stroke_(distance, width), polarity=polarity)


def fields(colours) -> Tensor:
    """Solid fields of the given RGB colours, (N, 3) -> (N, 3, 1, 1): they broadcast to any size."""
    return torch.as_tensor(colours, dtype=torch.float32).reshape(-1, 3, 1, 1)


CUES = ("edge", "frequency", "colour")  # what may tell a figure from its ground at a boundary


def cue_boundaries(orientation: Number, cues=CUES, *, shape: str = "straight", radius: float = 40.0, size: int = 224,
                   center=None, against=()) -> Tensor:
    """A figure meeting its ground at a boundary through `center` at `orientation`, the figure on the
    side the normal (+90 deg) points to, told apart by the chosen cues: `edge` (the figure lighter:
    0.7 against 0.3), `frequency` (a 3 px grating on the figure, flat ground), `colour` (the figure
    red, the ground a grey of the same luminance). With none of them both sides are the same grey.
    Cues also named in `against` mark the other side instead: cues in conflict.
    `shape`: a straight boundary, or a circle of `radius` whose edge passes through `center`,
    `convex` (the figure is the disc) or `concave` (the figure surrounds a disc of ground)."""
    (orientation,) = _batch(orientation)
    across = _across(orientation, size, center)  # (N, H, W): + on the figure's side
    if shape == "straight":
        figure = across.add(0.5).clamp(0, 1)
    else:
        x, y = _frame(size, center, orientation.numel())
        t = torch.deg2rad(orientation).view(-1, 1, 1)
        nx, ny = -torch.sin(t), torch.cos(t)  # the normal: towards the figure
        sign = 1.0 if shape == "convex" else -1.0  # the disc's centre lies on the figure's side, or on the ground's
        dx, dy = x - sign * radius * nx, y - sign * radius * ny
        inside = (radius + 0.5 - torch.sqrt(dx * dx + dy * dy)).clamp(0, 1)
        figure = inside if shape == "convex" else 1 - inside
    unknown = (set(cues) | set(against)) - set(CUES)
    if unknown:
        raise ValueError(f"unknown cues {sorted(unknown)}")
    side = {cue: (1 - figure if cue in against else figure).unsqueeze(1) for cue in CUES}  # where each cue marks the figure
    lum = 0.3 + 0.4 * side["edge"] if "edge" in cues else torch.full_like(side["edge"], 0.5)
    if "colour" in cues:  # red where the colour cue marks the figure, at the same luminance as the grey it replaces
        red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
        white = torch.tensor([0.0, 1.0, 1.0]).view(1, 3, 1, 1)  # red alone reaches 0.299: add green and blue above that
        tinted = torch.where(lum <= 0.299, red * lum / 0.299, red + white * (lum - 0.299) / (1 - 0.299))
        image = side["colour"] * tinted + (1 - side["colour"]) * lum
    else:
        image = lum.expand(-1, 3, -1, -1)
    if "frequency" in cues:
        image = image + side["frequency"] * 0.3 * torch.cos(2 * math.pi * across / 3.0).unsqueeze(1)
    return image.clamp(0, 1)
