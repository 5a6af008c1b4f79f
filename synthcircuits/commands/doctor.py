"""`synthcircuits doctor FOLDER`: what a long run's output folder holds, what is whole, what is
missing or damaged, and the command that finishes it. It reads; it changes nothing."""

from __future__ import annotations

from pathlib import Path

from ..dataset.health import inspect_folder


def run_doctor(folder: Path) -> int:
    """Exit 0 when the folder is whole, 1 when it needs resuming (or a run is writing it now)."""
    health = inspect_folder(folder)
    print(health.report())
    print(health.advice())
    return 0 if health.complete else 1
