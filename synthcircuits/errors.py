"""Errors that are the user's to fix: the CLI prints them as one message and exits with status 2."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Location:
    """A place in a user's file: 1-based line and column, as editors count them."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class UserError(Exception):
    """Something in the user's input is wrong; the message says what and how to fix it."""

    exit_status = 2
    kind = "error"  # how the CLI's one line starts

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class Stopped(UserError):
    """A long run was stopped by a signal (Ctrl-C: 130, SIGTERM: 143); the message says what it
    kept and how to resume."""

    kind = "stopped"

    def __init__(self, message: str, *, exit_status: int = 130, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.exit_status = exit_status


class AddressError(UserError, ValueError):
    """A unit address does not name a unit of the architecture."""


class WeightsError(UserError):
    """A weights file is missing, unreadable, or does not fit the architecture."""


def file_location(path: str | Path) -> Location:
    return Location(str(path))
