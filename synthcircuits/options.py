"""Argument types for the command line: each refuses a bad value with the option's name, before any
work starts (NaN, infinities, out-of-range numbers, unwritable outputs)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from .errors import UserError
from .outputs import check_output_file, check_output_folder

Parse = Callable[[str], object]


def whole(minimum: int, maximum: int) -> Parse:
    """A whole number in [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"expected a whole number from {minimum} to {maximum}, got {value}")
        return value

    parse.__name__ = "whole number"
    parse.range_text = f"{minimum:,} to {maximum:,}"  # what --help shows
    return parse


def number(minimum: float, maximum: float, *, above: bool = False) -> Parse:
    """A finite number in [minimum, maximum] (or (minimum, maximum] with `above`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = value > minimum if above else value >= minimum
        if not math.isfinite(value) or not low_ok or value > maximum:
            low = f"above {minimum:g}" if above else f"from {minimum:g}"
            raise argparse.ArgumentTypeError(f"expected a finite number {low} to {maximum:g}, got {text!r}")
        return value

    parse.__name__ = "number"
    parse.range_text = f"{'above ' if above else ''}{minimum:g} to {maximum:g}"
    return parse


def listed(item: Parse, most: int = 64) -> Parse:
    """A comma-separated list of `item`s (at least one, at most `most`)."""

    def parse(text: str) -> list:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        if len(parts) > most:
            raise argparse.ArgumentTypeError(f"expected at most {most} values, got {len(parts)}")
        values = []
        for part in parts:
            try:
                values.append(item(part))
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"in {text!r}: {exc}") from None
        return values

    parse.__name__ = "list"
    return parse


def output_file(text: str) -> Path:
    """A file the command will write: checked writable now, written only when the command succeeds."""
    try:
        return check_output_file(text, "the output")
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def output_folder(text: str) -> Path:
    try:
        return check_output_folder(text, "the output folder")
    except UserError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty string")
    return text


def input_path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty string")
    return Path(text)


# The ranges the commands accept, in one place (the README's option tables quote them).
COUNT = whole(0, 1_000_000)
STEPS = whole(1, 100_000)  # optimisation steps; 256 takes seconds per unit
SEED = whole(0, 2**32 - 1)
VIS_SIZE = whole(16, 4096)  # feature-visualisation canvas side, px
IMAGE_SIZE = whole(8, 16_384)  # resize+crop side for images fed to a network, px
FRACTION = number(0.0, 1.0)
RADIUS = number(0.0, 10_000.0, above=True)  # px
ANGLE_STEP = number(0.1, 180.0)  # degrees: 3,600 orientations at the finest
ANGLE = number(-3600.0, 3600.0)  # degrees
SECONDS = number(0.0, 86_400.0, above=True)
OPSET = whole(11, 20)  # what torch's ONNX exporter writes
