"""Every subpackage ships: a package missing from pyproject's list imports here (from the
checkout) but not from a plain `pip install .`."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "synthcircuits").rglob("__init__.py")}
    assert found - listed == set()
