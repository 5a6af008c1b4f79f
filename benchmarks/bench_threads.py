"""The thread tuner under real load: processes spinning on all but one core, then gone. It should
drop to the cores left free while they spin and come back to all of them after (the unit test
feeds it made-up CPU readings; this is the check against the machine's own).

    .venv/bin/python benchmarks/bench_threads.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from synthcircuits.tables import format_table  # noqa: E402
from synthcircuits.threads import ThreadTuner, set_threads, usable_cores  # noqa: E402


def watch(tuner: ThreadTuner, seconds: float) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.1)
        tuner.tick()
    return tuner.threads


def main() -> None:
    set_threads(None)
    tuner = ThreadTuner(interval=0.5)
    rows = [["alone", 0, watch(tuner, 2)]]
    spin = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"
    neighbours = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(usable_cores() - 1)]
    try:
        rows.append(["beside spinning processes", len(neighbours), watch(tuner, 4)])
    finally:
        for n in neighbours:
            n.kill()
            n.wait()
    rows.append(["after they stop", 0, watch(tuner, 4)])
    tuner.close()
    print(f"{usable_cores()} usable cores\n")
    print(format_table(["phase", "spinning neighbours", "threads the tuner chose"], rows))


if __name__ == "__main__":
    main()
