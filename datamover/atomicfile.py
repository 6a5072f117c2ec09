"""Files written whole or not at all: a temporary file beside the target, renamed over it,
so that a reader (or what a crash leaves) never meets a partial file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, data: bytes | bytearray, *, durable: bool = True, mode: int | None = None
) -> None:
    """Replace `path` with `data`; raises OSError, leaving no temporary file behind.

    `durable` syncs the data before the rename (a cache need not); `mode` sets the
    file's permissions (otherwise 0600)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
