"""What a backup hands to its worker processes (`datamover.workerpool`): batches of small
files to read and seal (`datamover.smallfiles`), and directories to compare with their
tree in the parent snapshot (`datamover.dirscan`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from datamover.dirscan import scan_directory
from datamover.smallfiles import SealSettings, seal_batch

SEAL: Final = "seal"
"""``(SEAL, batch)``: answered with `seal_batch`'s results."""
SCAN: Final = "scan"
"""``(SCAN, (path, tree_json))``: answered with `scan_directory`'s result."""

HANDLER = f"{__name__}:backup_work"
"""The `WorkerPool` handler of a backup's workers."""

Request = tuple[str, Any]


def backup_work(settings: SealSettings) -> Callable[[Request], object]:
    def handle(request: Request) -> object:
        kind, payload = request
        if kind == SEAL:
            return seal_batch(payload, settings)
        if kind == SCAN:
            return scan_directory(*payload)
        raise ValueError(f"unknown backup work {kind!r}")

    return handle
