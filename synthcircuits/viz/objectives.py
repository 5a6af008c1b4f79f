"""What feature visualisation maximises: objectives that add, scale and subtract.

An objective maps a batch's activations to one value per image. Units are read at the centre
position of their layer; channels are averaged over positions. Objectives compose like
Lucid's and Lucent's:

    Neuron("mixed3b", 379) - Neuron("mixed3b", 385)       # excites 379 more than 385
    Channel("mixed4a", 10) + 0.1 * Diversity("mixed4a")   # several images, pushed apart
    Interpolate(Neuron("mixed3b", 379), Neuron("mixed3b", 385))  # image i of n mixes the two

`objective_text.parse_objective` reads the same algebra from text (the `vis` command's argument).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..errors import UserError



@dataclass
class Activations:
    """A batch's activations by layer name, and where the "centre" of each spatial layer is:
    the middle position, unless the run cropped the input to one unit's receptive field and
    says which position that unit sits at (`centres`)."""

    values: Mapping[str, Tensor]
    centres: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def at(self, layer: str) -> Tensor:
        return self.values[layer]

    def centre(self, layer: str) -> Tensor:
        """(n, channels) at the layer's centre position (or the vector itself for (n, K) outputs)."""
        acts = self.values[layer]
        if acts.dim() == 2:
            return acts
        y, x = self.centres.get(layer, (acts.shape[-2] // 2, acts.shape[-1] // 2))
        return acts[:, :, y, x]

    def images(self, start: int, stop: int) -> Activations:
        return Activations({k: v[start:stop] for k, v in self.values.items()}, self.centres)


class Objective:
    """Base of the algebra: subclasses give `layers`, `__call__` and `__str__`."""

    def layers(self) -> frozenset[str]:
        raise NotImplementedError

    def __call__(self, acts: Activations) -> Tensor:
        raise NotImplementedError

    def local_layer(self) -> str | None:
        """The one layer whose centre position is all this objective reads, or None (it reads
        whole layers, or several): only local objectives can use a receptive-field canvas."""
        return None

    def prepare(self, model, input_size: int) -> None:
        """Called once before optimising at `input_size` px (caricatures compute their target here)."""

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, other))

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum((self, Scaled(other, -1.0)))

    def __mul__(self, factor: float) -> Objective:
        if not isinstance(factor, (int, float)):
            return NotImplemented
        return Scaled(self, float(factor))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return Scaled(self, -1.0)


class OneLayer(Objective):
    """An objective that reads one layer, named by the subclass's `layer` field."""

    layer: str

    def layers(self) -> frozenset[str]:
        return frozenset({self.layer})


@dataclass(frozen=True, eq=False)
class Neuron(OneLayer):
    """One unit at the centre position (or one entry of a vector layer, e.g. a class logit)."""

    layer: str
    channel: int

    def local_layer(self) -> str | None:
        return self.layer

    def __call__(self, acts: Activations) -> Tensor:
        return acts.centre(self.layer)[:, self.channel]

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"


@dataclass(frozen=True, eq=False)
class Channel(OneLayer):
    """A channel's mean over every position."""

    layer: str
    channel: int

    def __call__(self, acts: Activations) -> Tensor:
        values = acts.at(self.layer)[:, self.channel]
        return values if values.dim() == 1 else values.flatten(1).mean(1)

    def __str__(self) -> str:
        return f"channel({self.layer}:{self.channel})"


@dataclass(frozen=True, eq=False)
class Direction(OneLayer):
    """The dot product of the centre position's channels with a direction vector."""

    layer: str
    vector: Tensor
    name: str = "direction"

    def local_layer(self) -> str | None:
        return self.layer

    def __call__(self, acts: Activations) -> Tensor:
        centre = acts.centre(self.layer)
        if centre.shape[1] != self.vector.numel():
            raise UserError(f"{self.name} has {self.vector.numel()} entries but {self.layer} has {centre.shape[1]} channels",
                            hint="save one value per channel of the layer")
        return centre @ self.vector.to(centre)

    def __str__(self) -> str:
        return f"direction({self.layer}, {self.name})"


@dataclass(frozen=True, eq=False)
class Diversity(OneLayer):
    """Pushes the images of one objective apart: each image scores minus its mean cosine
    similarity to the others' Gram matrices (channel co-activation over positions) at `layer`.
    Add it with a small weight to an objective given several images."""

    layer: str

    def __call__(self, acts: Activations) -> Tensor:
        values = acts.at(self.layer)
        if values.dim() != 4:
            raise UserError(f"diversity({self.layer}): {self.layer} has no positions to compare images by",
                            hint="name a conv or block layer")
        n = values.shape[0]
        if n < 2:
            return values.new_zeros(n)
        flat = values.flatten(2)
        grams = torch.nn.functional.normalize((flat @ flat.transpose(1, 2)).flatten(1), dim=1)
        similarity = grams @ grams.T
        return -(similarity.sum(1) - similarity.diagonal()) / (n - 1)

    def __str__(self) -> str:
        return f"diversity({self.layer})"


@dataclass(frozen=True, eq=False)
class Caricature(OneLayer):
    """Matches what `layer` sees in an image: the dot product with the image's activations,
    times their cosine similarity (Lucid's caricature), so the picture exaggerates what the
    layer finds in the image. `image` is (3, H, W) in [0, 1]; it is resized to the canvas."""

    layer: str
    image: Tensor
    name: str = "image"
    _target: dict = field(default_factory=dict, repr=False)

    def prepare(self, model, input_size: int) -> None:
        from ..models.capture import capture

        resized = torch.nn.functional.interpolate(self.image[None].float(), size=(input_size, input_size), mode="bilinear",
                                                  align_corners=False, antialias=True).clamp(0, 1)
        with torch.no_grad():
            self._target["value"] = capture(model, resized, [self.layer])[self.layer][0].detach()

    def __call__(self, acts: Activations) -> Tensor:
        target = self._target.get("value")
        if target is None:
            raise RuntimeError("caricature objective used before prepare()")
        flat = acts.at(self.layer).flatten(1)
        goal = target.flatten().to(flat)
        if flat.shape[1] != goal.numel():
            raise UserError(f"caricature target of {self.layer} has {goal.numel()} values, the run has {flat.shape[1]}")
        dot = flat @ goal / goal.norm().clamp_min(1e-8)
        cosine = torch.nn.functional.cosine_similarity(flat, goal[None], dim=1)
        return dot * cosine.clamp_min(0.0)

    def __str__(self) -> str:
        return f"caricature({self.layer}, {self.name})"


@dataclass(frozen=True, eq=False)
class Interpolate(Objective):
    """Image i of n maximises (1 - t) * a + t * b with t = i / (n - 1): a strip from a to b."""

    a: Objective
    b: Objective

    def layers(self) -> frozenset[str]:
        return self.a.layers() | self.b.layers()

    def local_layer(self) -> str | None:
        layer = self.a.local_layer()
        return layer if layer is not None and layer == self.b.local_layer() else None

    def prepare(self, model, input_size: int) -> None:
        self.a.prepare(model, input_size)
        self.b.prepare(model, input_size)

    def __call__(self, acts: Activations) -> Tensor:
        va, vb = self.a(acts), self.b(acts)
        n = va.shape[0]
        t = torch.linspace(0.0, 1.0, n, dtype=va.dtype, device=va.device) if n > 1 else va.new_zeros(1)
        return (1 - t) * va + t * vb

    def __str__(self) -> str:
        return f"interpolate({self.a}, {self.b})"


@dataclass(frozen=True, eq=False)
class Sum(Objective):
    terms: tuple[Objective, ...]

    def layers(self) -> frozenset[str]:
        return frozenset().union(*(t.layers() for t in self.terms))

    def local_layer(self) -> str | None:
        layers = {t.local_layer() for t in self.terms}
        return layers.pop() if len(layers) == 1 else None

    def prepare(self, model, input_size: int) -> None:
        for term in self.terms:
            term.prepare(model, input_size)

    def __call__(self, acts: Activations) -> Tensor:
        return sum(t(acts) for t in self.terms)

    def __str__(self) -> str:
        text = str(self.terms[0])
        for term in self.terms[1:]:
            shown = str(term)
            text += f" - {shown[1:]}" if shown.startswith("-") else f" + {shown}"
        return text


@dataclass(frozen=True, eq=False)
class Scaled(Objective):
    term: Objective
    factor: float

    def layers(self) -> frozenset[str]:
        return self.term.layers()

    def local_layer(self) -> str | None:
        return self.term.local_layer()

    def prepare(self, model, input_size: int) -> None:
        self.term.prepare(model, input_size)

    def __call__(self, acts: Activations) -> Tensor:
        return self.factor * self.term(acts)

    def __str__(self) -> str:
        inner = str(self.term)
        if isinstance(self.term, Sum):
            inner = f"({inner})"
        if self.factor == -1.0:
            return f"-{inner}"
        return f"{self.factor:g}*{inner}"
