"""Where a local stack keeps its state: `$LIFEBOAT_HOME`, default `~/.lifeboat`.

One directory per stack is what lets two stacks run side by side (tests beside a demo).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = "~/.lifeboat"


def stack_home(explicit: Path | None = None) -> Path:
    raw = explicit if explicit is not None else os.environ.get("LIFEBOAT_HOME", DEFAULT_HOME)
    return Path(raw).expanduser().resolve()
