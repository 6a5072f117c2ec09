"""Find the server binaries that pip packages install beside this interpreter."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def find_binary(name: str, pip_package: str) -> str:
    """The venv's own copy first, so an unactivated venv still finds its servers."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"`{name}` is missing: pip install {pip_package}")
    return found
