"""Writing a command's outputs: checked before any work starts, written all together or not at all.

Every file goes through `atomic_target`: the bytes land in a temp file beside the target and are
renamed onto it only when complete. Inside a `transaction` (the CLI opens one around every
command) the renames wait until the command has finished: a command that fails part-way leaves
neither its first outputs nor temp files nor the folders it made. Files get the permissions the
user's umask asks for, as `open()` would give them.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UserError


@dataclass
class _Transaction:
    staged: dict[Path, Path] = field(default_factory=dict)  # target -> temp file holding its bytes
    made_folders: list[Path] = field(default_factory=list)
    at_end: list[Callable[[], None]] = field(default_factory=list)  # once the outputs are in place (or gone)

    def commit(self) -> None:
        for target, tmp in self.staged.items():
            _publish(tmp, target)
        self.staged.clear()
        self.made_folders.clear()
        self._end()

    def roll_back(self) -> None:
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self._end()
        for folder in reversed(self.made_folders):
            try:
                folder.rmdir()  # only if still empty: nothing of the user's is removed
            except OSError:
                pass
        self.staged.clear()
        self.made_folders.clear()

    def _end(self) -> None:
        while self.at_end:
            self.at_end.pop()()


_CURRENT: ContextVar[_Transaction | None] = ContextVar("synthcircuits_outputs", default=None)


@contextmanager
def transaction() -> Iterator[None]:
    """Hold back every `atomic_target` rename until the block ends; undo them all if it raises."""
    if _CURRENT.get() is not None:  # nested: the outer one decides
        yield
        return
    current = _Transaction()
    token = _CURRENT.set(current)
    try:
        yield
    except BaseException:
        current.roll_back()
        raise
    else:
        try:
            current.commit()
        except BaseException:
            current.roll_back()
            raise
    finally:
        _CURRENT.reset(token)


def when_outputs_are_written(action: Callable[[], None]) -> None:
    """Run `action` once the open transaction has put its outputs in place or removed them (now,
    outside one): a folder lock is released then, so no second run writes while renames wait."""
    current = _CURRENT.get()
    if current is None:
        action()
    else:
        current.at_end.append(action)


def pending(path: str | Path) -> bool:
    """Whether `path` exists or is waiting in the open transaction to be written."""
    path = Path(path)
    current = _CURRENT.get()
    return path.exists() or (current is not None and path.absolute() in current.staged)


@contextmanager
def atomic_target(path: str | Path, *, now: bool = False) -> Iterator[Path]:
    """Yield a temp path beside `path`; it becomes `path` only if the block (and any transaction
    around it) succeeds. `now`: rename at the end of the block even inside a transaction (for
    checkpoints a resumed run must find, such as a dataset job's shards)."""
    path = Path(path)
    check_output_file(path)
    make_folders(path.parent)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}", hint="name a writable location") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in WRITE_FAILURES:
            raise write_failure(path, exc) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    current = _CURRENT.get()
    if current is None or now:
        _publish(tmp, path)
        return
    previous = current.staged.pop(path.absolute(), None)
    if previous is not None:
        previous.unlink(missing_ok=True)
    current.staged[path.absolute()] = tmp


# What writing a file can fail with that is the place's fault, not the program's: said in one line.
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def write_failure(path: Path, exc: OSError) -> UserError:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return UserError(f"cannot write {path}: {exc.strerror}",
                     hint="free some space there (nothing partial was left)" if full else "name a writable location")


def safe_name(text: str) -> str:
    """`text` (a layer name such as layer1.0.conv2 or conv2/3x3) as part of a file name: every
    character but letters, digits, _ and - becomes _."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def make_folders(folder: str | Path) -> Path:
    """Make `folder` and missing parents; inside a transaction they are removed again on failure."""
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        blocker = next(p for p in (folder, *folder.parents) if p.exists() and not p.is_dir())
        raise UserError(f"cannot make the folder {folder}: {blocker} is a file", hint="name another location") from None
    except OSError as exc:
        raise UserError(f"cannot make the folder {folder}: {exc.strerror}", hint="name a writable location") from None
    current = _CURRENT.get()
    if current is not None:
        current.made_folders.extend(reversed(missing))
    return folder


def check_output_file(path: str | Path, option: str = "the output") -> Path:
    """Refuse, before any work, a file output that cannot be written: an empty path, an existing
    folder, a parent that is a file, or a location this process cannot write."""
    text = str(path)
    if not text.strip():
        raise UserError(f"{option} is an empty path", hint="name a file to write")
    path = Path(text)
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; this writes one file there", hint=f"name a file, e.g. {path / 'out'}")
    _check_writable_place(path.parent, option, path)
    return path


def check_output_folder(path: str | Path, option: str = "the output folder") -> Path:
    """The same for a folder of outputs: it may exist (as a folder) or be made."""
    text = str(path)
    if not text.strip():
        raise UserError(f"{option} is an empty path", hint="name a folder to write into")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path} is a file; this writes a folder of outputs there", hint="name a folder")
    _check_writable_place(path, option, path)
    return path


def _check_writable_place(folder: Path, option: str, target: Path) -> None:
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"cannot write {option} {target}: {existing} is a file, not a folder", hint="name another location")
    try:  # a real test: permissions, read-only mounts and special file systems all answer here
        fd, probe = tempfile.mkstemp(prefix=".synthcircuits-write-test.", dir=existing)
    except OSError as exc:
        raise UserError(f"cannot write {option} {target}: {existing} is not writable ({exc.strerror})",
                        hint="name a writable location") from None
    os.close(fd)
    os.unlink(probe)


def _publish(tmp: Path, target: Path) -> None:
    try:
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {target}: {exc.strerror}", hint="name a writable file location") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
