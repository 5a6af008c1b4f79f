"""One writer per output folder.

A run that writes a folder for minutes or hours (the dataset runner's shards, a report, `find`)
holds `FOLDER/.synthcircuits.lock` while it writes: an exclusive `flock` on the file, which the
kernel releases when the process ends however it ends, and a line of JSON in it saying who holds
it (host, pid, start time, command). A second run on the same folder is refused at once, naming
the first. A lock file whose `flock` is free was left by a run that died without cleaning up: it
is taken over, and said so. Inside a command's transaction the lock is held until its staged
outputs have been renamed into place (or removed).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import UserError
from .invocation import command_argv
from .outputs import make_folders, when_outputs_are_written

log = logging.getLogger(__name__)  # the command line shows these on stderr; a library caller routes them

LOCK_NAME = ".synthcircuits.lock"
_HELD: set[Path] = set()  # folders this process holds: a command and its runner share one lock


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str  # local time, as people read it
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}" + (f" ({self.command})" if self.command else "")

    @staticmethod
    def me() -> Holder:
        argv = command_argv()
        return Holder(socket.gethostname(), os.getpid(), time.strftime("%Y-%m-%d %H:%M:%S"), " ".join(argv) if argv else "")


def read_holder(folder: Path) -> Holder | None:
    """Who the lock file names (the holder, or the run that left it), if anyone."""
    path = Path(folder) / LOCK_NAME
    if not path.is_file():  # none, or not a lock this tool wrote (a device, a pipe)
        return None
    try:
        with open(path, "rb") as f:
            return _parse(f.read(4096).decode("utf-8", "replace"))  # a lock is one short line: read no more than a lock holds
    except OSError:
        return None


def lock_is_held(folder: Path) -> bool:
    """Whether a live process holds the folder's lock now."""
    try:
        fd = os.open(Path(folder) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@contextmanager
def locked_folder(folder: str | Path) -> Iterator[Holder | None]:
    """Hold `folder`'s lock for the block (the folder is made if missing). Yields the holder of a
    stale lock that was taken over, else None. Refuses, with one line, while another run holds it."""
    folder = make_folders(folder)
    key = folder.resolve()
    if key in _HELD:
        yield None
        return
    path = folder / LOCK_NAME
    fd = _acquire(path, folder)
    _HELD.add(key)
    try:
        stale = _parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        _write(fd, path, json.dumps(asdict(Holder.me())) + "\n")
        if stale is not None:
            log.warning("took over the lock on %s left by %s, which is no longer running", folder, stale.describe())
        yield stale
    finally:
        when_outputs_are_written(lambda: _release(key, path, fd))


def _release(key: Path, path: Path, fd: int) -> None:
    _HELD.discard(key)
    try:
        path.unlink()  # before unlocking: a run waiting on this inode then finds it gone and retries
    except OSError:
        pass
    os.close(fd)  # releases the flock


def _acquire(path: Path, folder: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UserError(f"cannot lock the output folder {folder}: {exc.strerror}", hint="name a writable folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise UserError(f"{folder} is being written by another run: {holder.describe() if holder else 'its lock is held'}",
                            hint="wait for that run to finish, or write to another folder") from None
        try:  # the file we locked may have been unlinked by a run finishing just now: then retry
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _write(fd: int, path: Path, text: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
    except OSError as exc:
        hint = "free some space, then run again" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "name a writable folder"
        raise UserError(f"cannot write the lock {path}: {exc.strerror}", hint=hint) from None


def _parse(text: str) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(str(data["host"]), int(data["pid"]), str(data["started"]), str(data.get("command", "")))
    except (ValueError, KeyError, TypeError, RecursionError, OverflowError):
        return None
