"""The command line this process is running, for messages that say how to resume a long run and
for the records a run leaves in its output folder. The CLI sets it; library callers leave it
unset, and the messages then speak of calling the function again."""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

_COMMAND: ContextVar[tuple[str, ...] | None] = ContextVar("synthcircuits_command", default=None)


@contextmanager
def running_command(argv: Sequence[str]) -> Iterator[None]:
    token = _COMMAND.set(tuple(argv))
    try:
        yield
    finally:
        _COMMAND.reset(token)


def command_argv() -> list[str] | None:
    """`synthcircuits ARGS...` as a list, or None outside the CLI."""
    argv = _COMMAND.get()
    return None if argv is None else ["synthcircuits", *argv]


def rerun_text(argv: Sequence[str] | None = None) -> str:
    """How to run the same thing again: the shell command, or a sentence for library callers."""
    argv = command_argv() if argv is None else list(argv)
    return shlex.join(argv) if argv else "call the same function again with the same arguments"
