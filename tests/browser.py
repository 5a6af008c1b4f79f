"""Opening the project's static pages in headless Chromium (installed by scripts/ensure-chromium)."""

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote


def chromium(*args, profile):
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed: `make test` installs Debian's chromium package (scripts/ensure-chromium)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=4000"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120)


def assert_page_whole(page: Path, profile: Path) -> str:
    """The page opens with every image drawn, every local link and script pointing at a file, and
    nothing written to the browser's console; its DOM."""
    run = chromium("--enable-logging=stderr", "--v=0", "--dump-dom", page.as_uri(), profile=profile)
    dom = run.stdout
    assert 'data-broken-images="0"' in dom, dom[-500:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    for href in re.findall(r'(?:href|src)="([^"#]+)"', dom):
        assert (page.parent / unquote(href)).is_file(), f"{page.name} links to missing {href}"
    return dom
