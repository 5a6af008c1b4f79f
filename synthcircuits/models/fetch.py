"""Download the trained InceptionV1 weights Lucent uses into the user's cache, atomically."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import WeightsError
from ..outputs import atomic_target
from .weights import read_weights

LUCENT_INCEPTIONV1_URL = "https://github.com/ProGamerGov/pytorch-old-tensorflow-models/raw/master/inception5h.pth"
LUCENT_INCEPTIONV1_FILE = "inception5h.pth"


def cache_dir() -> Path:
    """`$SYNTHCIRCUITS_CACHE`, else `$XDG_CACHE_HOME/synthcircuits`, else ~/.cache/synthcircuits."""
    if os.environ.get("SYNTHCIRCUITS_CACHE"):
        return Path(os.environ["SYNTHCIRCUITS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "synthcircuits"


def default_weights_path() -> Path:
    return cache_dir() / LUCENT_INCEPTIONV1_FILE


def fetch_weights(url: str = LUCENT_INCEPTIONV1_URL, dest: Path | None = None, timeout: float = 15.0) -> Path:
    """Download `url` to `dest` with a progress bar; the file appears only once complete and loadable."""
    dest = Path(dest) if dest else default_weights_path()
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except ValueError as exc:  # not a URL at all
        raise WeightsError(f"cannot download {url!r}: {exc}", hint="give an http(s):// or file:// address") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(
            f"could not download {url} ({reason})",
            hint=f"on a machine with network access fetch {LUCENT_INCEPTIONV1_FILE} from that address and "
            f"put it at {dest}, or pass --weights FILE to the command that needs it",
        ) from None
    total = int(response.headers.get("Content-Length") or 0) or None
    try:
        with response, atomic_target(dest) as tmp:
            with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
            if total is not None and tmp.stat().st_size != total:
                raise WeightsError(f"download of {url} stopped early ({tmp.stat().st_size} of {total} bytes)")
            read_weights(tmp, suffix=dest.suffix)  # refuse to install something that is not weights
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise WeightsError(f"download of {url} failed part-way ({exc}); nothing was written") from None
    return dest
