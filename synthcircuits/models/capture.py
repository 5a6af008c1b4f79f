"""Activation capture: named layers of a batch, running the network only as far as needed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from weakref import WeakKeyDictionary

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .staged import Tap, run_stages


def capture(
    model: nn.Module,
    images: Tensor,
    layers: Sequence[str],
    *,
    pre_relu: bool = False,
    grad: bool = False,
    relu=None,
    crops: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, Tensor]:
    """Activations of `layers` for `images` (RGB in [0, 1], NCHW), keyed by hook-point name.

    With `pre_relu`, each conv or block layer also gets `<layer>_pre_relu`. The forward stops
    after the deepest stage any requested name lives in; nothing is copied. Traced networks
    run only the graph nodes the names depend on (`relu` and `crops`, a `Cone`'s ranges, are for
    staged models only).
    """
    names = list(dict.fromkeys(layers))
    if pre_relu:
        names += [f"{n}_pre_relu" for n in layers if f"{n}_pre_relu" in model.hook_points()]
    check_names(model, names)
    try:
        return _run(model, images, names, grad, relu, crops)
    except (RuntimeError, ValueError, IndexError):
        # Pools and convs fail on inputs too small to leave a position: say so, with the size that
        # works. Anything else stays the error it is. (Export traces this function: no retries there.)
        if not torch.jit.is_tracing():
            check_input_size(model, images, names)
        raise


def _run(model: nn.Module, images: Tensor, names: list[str], grad: bool = False, relu=None, crops=None) -> dict[str, Tensor]:
    device = next(model.parameters()).device
    if hasattr(model, "run_tapped"):  # a traced network: its feature extractor keeps only what the names need
        check_names(model, names)
        if crops:
            raise ValueError("cropped runs need a staged model")
        with torch.set_grad_enabled(grad):
            return model.run_tapped(images.to(device), names)
    last = deepest_stage(model, names)
    tap = Tap(names, relu or F.relu, crops)
    with torch.set_grad_enabled(grad):
        run_stages(model, images.to(device), tap, last)
    return {name: tap.values[name] for name in names}


def check_names(model: nn.Module, names: Sequence[str]) -> dict[str, str]:
    """The model's hook points, after checking every name is one; unknown names are a UserError."""
    points = model.hook_points()
    unknown = [n for n in names if n not in points]
    if unknown:
        shown = [n for n in points if n == points[n]]
        more = f" ... ({len(shown)} in all; `synthcircuits layers` lists them)" if len(shown) > 40 else ""
        raise UserError(f"unknown layer name(s): {', '.join(unknown)}", hint="capturable names include: " + ", ".join(shown[:40]) + more)
    if not names:
        raise UserError("no layers requested", hint="name at least one layer, e.g. mixed3b")
    return points


def deepest_stage(model: nn.Module, names: Sequence[str]) -> str:
    """The last stage that must run to produce every name; unknown names are a UserError."""
    points = check_names(model, names)
    order = {name: i for i, (name, _) in enumerate(model.stages())}
    return max((points[n] for n in names), key=order.__getitem__)


_MINIMUM_SIDES: WeakKeyDictionary[nn.Module, dict[tuple[str, ...], int]] = WeakKeyDictionary()


class InputTooSmall(UserError):
    """Images smaller than the network needs to reach a layer; the caller that knows which files
    they came from names them."""


def check_input_size(model: nn.Module, images: Tensor, names: Sequence[str]) -> None:
    """Refuse images too small for the network to reach `names` (its pools and convs would leave
    no positions), naming the smallest size that works, before the real forward runs."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise UserError(f"images must be a batch of RGB images (N, 3, H, W), got shape {list(images.shape)}")
    height, width = images.shape[-2:]
    trained = getattr(getattr(model, "architecture", None), "input_size", 224)
    if min(height, width) >= trained:
        return
    smallest = minimum_input_side(model, names)
    if min(height, width) < smallest:
        raise InputTooSmall(f"images of {height}x{width} px are too small to reach {', '.join(names)}: "
                        f"this network needs at least {smallest}x{smallest} px there",
                        hint=f"pass --size {max(smallest, trained)} to resize, or ask for an earlier layer")


def minimum_input_side(model: nn.Module, names: Sequence[str]) -> int:
    """The smallest square input that runs as far as `names`, by bisection on blank images (cached)."""
    known = _MINIMUM_SIDES.setdefault(model, {})
    key = tuple(sorted(names))
    if key not in known:
        device = next(model.parameters()).device
        low, high = 1, max(getattr(getattr(model, "architecture", None), "input_size", 224), 8)

        def runs(side: int) -> bool:
            try:
                _run(model, torch.zeros(1, 3, side, side, device=device), list(names))
            except (RuntimeError, ValueError, IndexError):
                return False
            return True

        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if runs(middle) else (middle + 1, high)
        known[key] = low
    return known[key]
