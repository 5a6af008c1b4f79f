"""Activation capture: named layers of a batch, running the network only as far as needed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
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
) -> dict[str, Tensor]:
    """Activations of `layers` for `images` (RGB in [0, 1], NCHW), keyed by hook-point name.

    With `pre_relu`, each conv or block layer also gets `<layer>_pre_relu`. The forward stops
    after the deepest stage any requested name lives in; nothing is copied. Traced networks
    run only the graph nodes the names depend on (`relu` is for staged models only).
    """
    names = list(dict.fromkeys(layers))
    if pre_relu:
        names += [f"{n}_pre_relu" for n in layers if f"{n}_pre_relu" in model.hook_points()]
    device = next(model.parameters()).device
    if hasattr(model, "run_tapped"):  # a traced network: its feature extractor keeps only what the names need
        check_names(model, names)
        with torch.set_grad_enabled(grad):
            return model.run_tapped(images.to(device), names)
    last = deepest_stage(model, names)
    tap = Tap(names) if relu is None else Tap(names, relu)
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
