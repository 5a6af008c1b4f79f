"""How many CPU threads torch uses.

By default, the cores this process may use: its CPU affinity, capped by a cgroup CPU quota
(containers, CI). `--threads N` fixes the count.

A fixed count is still wrong when another heavy job shares the cores: OpenMP threads spin
while they wait for each other, and two processes that each spin on every core slow each
other down about ninefold on a 2-core machine. Long loops therefore tune the count as they
run (`ThreadTuner`): now and then one step runs with half the threads, and the loop keeps
whichever count made its steps faster. Alone, that is every core; beside another job, fewer.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_fixed: int | None = None


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota else max(1, cores)


def _cgroup_quota() -> float | None:
    try:
        limit, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        return None


def set_threads(count: int | None) -> int:
    """Use `count` threads from now on (None: OMP_NUM_THREADS if set, else the usable cores,
    tuned by long loops). Does not import torch: before torch loads, a count other than
    torch's own default goes into OMP_NUM_THREADS (which child processes then inherit)."""
    global _fixed
    _fixed = count or _environment_threads()
    threads = _fixed or usable_cores()
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    elif count is not None or threads != (os.cpu_count() or threads):
        os.environ["OMP_NUM_THREADS"] = str(threads)
    return threads


def _environment_threads() -> int | None:
    try:
        value = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


@dataclass(frozen=True)
class CpuSample:
    time: float  # s, monotonic
    busy: float  # s of CPU time spent on this process's cores, by anyone
    own: float  # s of CPU time spent by this process


def cpu_sample() -> CpuSample | None:
    """Where /proc says how busy this process's cores are (Linux); None elsewhere."""
    try:
        cores = {f"cpu{c}" for c in os.sched_getaffinity(0)}
        busy = 0
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] in cores:  # user nice system idle iowait irq softirq steal
                busy += sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
        own = sum(int(v) for v in Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[11:13])
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return CpuSample(time.monotonic(), busy / tick, own / tick)


class ThreadTuner:
    """Keeps a long loop's thread count to the cores other work leaves free.

    Call `tick()` once per step. About once a second it compares how much CPU time this
    process's cores spent with how much this process used: the rest is other work, in cores.
    The loop then runs on the cores that are left (at least one), and back on all of them
    once the other work ends. Off where the count is fixed (`--threads`, OMP_NUM_THREADS) or
    /proc cannot be read. `sample` and `clock` are what it reads (tests pass their own).
    """

    def __init__(self, interval: float = 1.0, sample: Callable[[], CpuSample | None] = cpu_sample,
                 clock: Callable[[], float] = time.monotonic):
        import torch

        self.torch = torch
        self.most = torch.get_num_threads()
        self.threads = self.most
        self.interval = interval
        self.sample, self.clock = sample, clock
        self.last = sample() if _fixed is None and self.most > 1 else None

    def tick(self) -> None:
        if self.last is None or self.clock() - self.last.time < self.interval:
            return
        now = self.sample()
        if now is None:
            self.last = None
            return
        elapsed = now.time - self.last.time
        others = max(0.0, (now.busy - self.last.busy) - (now.own - self.last.own)) / elapsed
        self.last = now
        wanted = max(1, min(self.most, self.most - round(others)))
        if wanted != self.threads:
            self.threads = wanted
            self.torch.set_num_threads(wanted)

    def close(self) -> None:
        """Leave the process with the count it started with."""
        if self.threads != self.most:
            self.torch.set_num_threads(self.most)
            self.threads = self.most
