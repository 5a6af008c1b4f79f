"""Objectives written as text: ``mixed3b:379 - 0.5*mixed3b:385``, ``channel(U)``,
``diversity(LAYER)``, ``interpolate(A, B)``, ``caricature(LAYER, IMAGE)``,
``direction(LAYER, FILE.npy)``, with ``+``, ``-``, ``NUMBER*`` and parentheses. Errors name
the column and mark it."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ..errors import UserError
from .objectives import Caricature, Channel, Direction, Diversity, Interpolate, Neuron, Objective

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
