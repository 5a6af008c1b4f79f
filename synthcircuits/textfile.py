"""Reading a small hand-written text file (a spec, a class map): size-limited, UTF-8, with a
non-UTF-8 byte reported at its line and column."""

from __future__ import annotations

from pathlib import Path

from .errors import Location, UserError


def read_utf8(path: str | Path, what: str, limit: int, error: type[UserError] = UserError) -> str:
    """The text of `path` (a `what`, e.g. "spec"), refusing a folder, a missing file, more than
    `limit` bytes, or bytes that are not UTF-8, with `error`."""
    path = Path(path)
    try:
        if path.is_dir():
            raise error(f"{path} is a folder, not a {what} file")
        if path.exists() and not path.is_file():  # a device such as /dev/zero, a pipe: endless, or blocking
            raise error(f"{path} is not a regular file", hint=f"name the {what} file itself")
        with open(path, "rb") as f:
            raw = f.read(limit + 1)  # the size is what is read, not what stat says (a file may grow, or lie)
        if len(raw) > limit:
            raise error(f"{path}: more than the {limit:,} bytes a {what} may have",
                        hint=f"a {what} is written by hand or by this tool; check it is the right file")
    except FileNotFoundError:
        raise error(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = line_column(raw[: exc.start].decode("utf-8", errors="replace"))
        raise error(f"byte 0x{raw[exc.start]:02x} is not UTF-8", location=Location(str(path), line, column),
                    hint=f"save the {what} as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def line_column(before: str) -> tuple[int, int]:
    """1-based line and column of the character after `before`."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
