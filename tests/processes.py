"""Starting the CLI as a child process a test can stop with Ctrl-C.

A shell without job control (`cmd &` in a script, nohup, some CI runners) starts background
commands with SIGINT ignored, and a child inherits that; Python then installs no
KeyboardInterrupt handler, so a test's SIGINT would do nothing. The child gets SIGINT back
at its default before Python starts, however the test run itself was launched.
"""

from __future__ import annotations

import signal
import subprocess
import sys


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(argv: list[str], **popen) -> subprocess.Popen:
    """`python -m synthcircuits.cli ARGV`, text pipes for stdout and stderr unless given."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    popen.setdefault("text", True)
    return subprocess.Popen([sys.executable, "-m", "synthcircuits.cli", *argv], preexec_fn=_interruptible, **popen)
