"""What feature visualisation maximises: objectives that add, scale and subtract.

An objective maps a batch's activations to one value per image. Units are read at the centre
position of their layer; channels are averaged over positions. Objectives compose like
Lucid's and Lucent's:

    Neuron("mixed3b", 379) - Neuron("mixed3b", 385)       # excites 379 more than 385
    Channel("mixed4a", 10) + 0.1 * Diversity("mixed4a")   # several images, pushed apart
    Interpolate(Neuron("mixed3b", 379), Neuron("mixed3b", 385))  # image i of n mixes the two

`parse_objective` reads the same algebra from text (the `vis` command's argument).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


@dataclass(frozen=True, eq=False)
class Neuron(Objective):
    """One unit at the centre position (or one entry of a vector layer, e.g. a class logit)."""

    layer: str
    channel: int

    def layers(self) -> frozenset[str]:
        return frozenset({self.layer})

    def local_layer(self) -> str | None:
        return self.layer

    def __call__(self, acts: Activations) -> Tensor:
        return acts.centre(self.layer)[:, self.channel]

    def __str__(self) -> str:
        return f"{self.layer}:{self.channel}"


@dataclass(frozen=True, eq=False)
class Channel(Objective):
    """A channel's mean over every position."""

    layer: str
    channel: int

    def layers(self) -> frozenset[str]:
        return frozenset({self.layer})

    def __call__(self, acts: Activations) -> Tensor:
        values = acts.at(self.layer)[:, self.channel]
        return values if values.dim() == 1 else values.flatten(1).mean(1)

    def __str__(self) -> str:
        return f"channel({self.layer}:{self.channel})"


@dataclass(frozen=True, eq=False)
class Direction(Objective):
    """The dot product of the centre position's channels with a direction vector."""

    layer: str
    vector: Tensor
    name: str = "direction"

    def layers(self) -> frozenset[str]:
        return frozenset({self.layer})

    def local_layer(self) -> str | None:
        return self.layer

    def __call__(self, acts: Activations) -> Tensor:
        centre = acts.centre(self.layer)
        if centre.shape[1] != self.vector.numel():
            raise ValueError(f"{self.name} has {self.vector.numel()} entries but {self.layer} has {centre.shape[1]} channels")
        return centre @ self.vector.to(centre)

    def __str__(self) -> str:
        return f"direction({self.layer}, {self.name})"


@dataclass(frozen=True, eq=False)
class Diversity(Objective):
    """Pushes the images of one objective apart: each image scores minus its mean cosine
    similarity to the others' Gram matrices (channel co-activation over positions) at `layer`.
    Add it with a small weight to an objective given several images."""

    layer: str

    def layers(self) -> frozenset[str]:
        return frozenset({self.layer})

    def __call__(self, acts: Activations) -> Tensor:
        values = acts.at(self.layer)
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
class Caricature(Objective):
    """Matches what `layer` sees in an image: the dot product with the image's activations,
    times their cosine similarity (Lucid's caricature), so the picture exaggerates what the
    layer finds in the image. `image` is (3, H, W) in [0, 1]; it is resized to the canvas."""

    layer: str
    image: Tensor
    name: str = "image"
    _target: dict = field(default_factory=dict, repr=False)

    def layers(self) -> frozenset[str]:
        return frozenset({self.layer})

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
            raise ValueError(f"caricature target of {self.layer} has {goal.numel()} values, the run has {flat.shape[1]}")
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


# -- text ---------------------------------------------------------------------------------

UnitResolver = Callable[[str], tuple[str, int]]  # "mixed3b:379" -> (layer, channel)
FileReader = Callable[[str, str], Tensor]  # (kind, path) -> image (3, H, W) or vector


class ObjectiveSyntaxError(UserError, ValueError):
    """An objective's text does not parse: the message names the column and marks it."""

    def __init__(self, text: str, column: int, message: str):
        super().__init__(f"objective {text!r}, column {column + 1}: {message}\n    {text}\n    {' ' * column}^",
                         hint="write e.g. \"mixed3b:379 - 0.5*mixed3b:385\", channel(U), diversity(LAYER), interpolate(A, B)")
        self.column = column


def parse_objective(text: str, unit: UnitResolver, read_file: FileReader | None = None) -> Objective:
    """Read an objective written as algebra, e.g. ``mixed3b:379 - 0.5*mixed3b:385``.

    Terms: a unit ``LAYER:N`` (the neuron at the centre), ``neuron(U)``, ``channel(U)``,
    ``diversity(LAYER)``, ``interpolate(A, B)``, ``caricature(LAYER, IMAGE)``,
    ``direction(LAYER, FILE.npy)``; combined with ``+``, ``-``, ``NUMBER*`` and parentheses.
    """
    return _Parser(text, unit, read_file).parse()


_FUNCTIONS = ("neuron", "channel", "diversity", "interpolate", "caricature", "direction")
_PUNCTUATION = "+-*(),"


class _Parser:
    def __init__(self, text: str, unit: UnitResolver, read_file: FileReader | None):
        self.text, self.unit, self.read_file = text, unit, read_file
        self.tokens = self._tokenise()
        self.i = 0

    def _tokenise(self) -> list[tuple[str, str, int]]:
        tokens, i, text = [], 0, self.text
        while i < len(text):
            c = text[i]
            if c.isspace():
                i += 1
            elif c in _PUNCTUATION:
                tokens.append(("op", c, i))
                i += 1
            elif c in "'\"":
                end = text.find(c, i + 1)
                if end < 0:
                    raise ObjectiveSyntaxError(text, i, "unclosed quote")
                tokens.append(("word", text[i + 1 : end], i))
                i = end + 1
            else:
                start = i
                while i < len(text) and not text[i].isspace() and text[i] not in _PUNCTUATION + "'\"":
                    i += 1
                tokens.append(("word", text[start:i], start))
        tokens.append(("end", "", len(text)))
        return tokens

    def _peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def _take(self, value: str | None = None) -> tuple[str, str, int]:
        token = self.tokens[self.i]
        if value is not None and token[1] != value:
            shown = "the end" if token[0] == "end" else repr(token[1])
            raise ObjectiveSyntaxError(self.text, token[2], f"expected {value!r}, found {shown}")
        self.i += 1
        return token

    def parse(self) -> Objective:
        if self._peek()[0] == "end":
            raise ObjectiveSyntaxError(self.text, 0, "empty objective")
        result = self._sum()
        kind, value, column = self._peek()
        if kind != "end":
            raise ObjectiveSyntaxError(self.text, column, f"unexpected {value!r}")
        return result

    def _sum(self) -> Objective:
        result = self._term()
        while self._peek()[1] in ("+", "-") and self._peek()[0] == "op":
            sign = self._take()[1]
            term = self._term()
            result = result + term if sign == "+" else result - term
        return result

    def _term(self) -> Objective:
        kind, value, column = self._peek()
        if kind == "op" and value == "-":
            self._take()
            return -self._term()
        factor = self._number()
        if factor is not None:
            self._take("*")
            return factor * self._term()
        result = self._atom()
        if self._peek()[1] == "*" and self._peek()[0] == "op":
            self._take()
            factor = self._number()
            if factor is None:
                raise ObjectiveSyntaxError(self.text, self._peek()[2], "expected a number after '*'")
            result = result * factor
        return result

    def _number(self) -> float | None:
        kind, value, column = self._peek()
        if kind != "word":
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        if number != number or abs(number) > 1e6:
            raise ObjectiveSyntaxError(self.text, column, "weights must be finite numbers of at most 1e6")
        self._take()
        return number

    def _atom(self) -> Objective:
        kind, value, column = self._take()
        if kind == "op" and value == "(":
            inner = self._sum()
            self._take(")")
            return inner
        if kind != "word":
            raise ObjectiveSyntaxError(self.text, column, "expected a unit, a number or a function" if kind == "op"
                                       else "the objective ends too early")
        if self._peek()[1] == "(" and self._peek()[0] == "op":
            return self._function(value, column)
        return Neuron(*self._unit(value, column))

    def _unit(self, value: str, column: int) -> tuple[str, int]:
        try:
            return self.unit(value)
        except ValueError as exc:  # address errors are ValueErrors
            raise ObjectiveSyntaxError(self.text, column, getattr(exc, "message", str(exc))) from None

    def _function(self, name: str, column: int) -> Objective:
        if name not in _FUNCTIONS:
            raise ObjectiveSyntaxError(self.text, column, f"unknown function {name!r} (known: {', '.join(_FUNCTIONS)})")
        self._take("(")
        if name in ("neuron", "channel"):
            _, value, at = self._word()
            layer, channel = self._unit(value, at)
            result: Objective = Neuron(layer, channel) if name == "neuron" else Channel(layer, channel)
        elif name == "diversity":
            result = Diversity(self._word()[1])
        elif name == "interpolate":
            a = self._sum()
            self._take(",")
            result = Interpolate(a, self._sum())
        else:
            layer = self._word()[1]
            self._take(",")
            _, path, at = self._word()
            if self.read_file is None:
                raise ObjectiveSyntaxError(self.text, at, f"{name}() needs a file, and none can be read here")
            try:
                data = self.read_file(name, path)
            except ValueError as exc:
                raise ObjectiveSyntaxError(self.text, at, getattr(exc, "message", str(exc))) from None
            result = Caricature(layer, data, path) if name == "caricature" else Direction(layer, data.flatten().float(), path)
        self._take(")")
        return result

    def _word(self) -> tuple[str, str, int]:
        token = self._peek()
        if token[0] != "word":
            raise ObjectiveSyntaxError(self.text, token[2], "expected a name")
        return self._take()


def objective_layers(objectives: Sequence[Objective]) -> list[str]:
    return sorted(frozenset().union(*(o.layers() for o in objectives)))
