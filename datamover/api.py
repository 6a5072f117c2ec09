"""The data mover's public face: back up a directory, restore a snapshot.

Callers (the CLI, the Temporal activities, the benchmark) open a `Repository` and call these;
progress callbacks receive pydantic models, and a backup's checkpoint can be handed back to
`backup(..., resume_from=...)` after a crash. The archiver and the restorer are imported by
the call that needs them: a command runs one of the two, and each costs ~0.02 s to import.
"""

from __future__ import annotations

import os
import socket

from datamover.jobs import (
    BackupCheckpoint,
    BackupOptions,
    BackupProgress,
    BackupProgressCallback,
    BackupResult,
    RestoreOptions,
    RestoreProgress,
    RestoreProgressCallback,
    RestoreResult,
)
from datamover.repository import Repository

__all__ = [
    "BackupCheckpoint",
    "BackupOptions",
    "BackupProgress",
    "BackupResult",
    "RestoreOptions",
    "RestoreProgress",
    "RestoreResult",
    "backup",
    "latest_snapshot",
    "restore",
]

LATEST = "latest"


def latest_snapshot(
    repo: Repository, *, paths: list[str] | None = None, hostname: str | None = None
) -> str | None:
    """Id of the newest snapshot with these paths and host (restic's choice of a parent)."""
    best: tuple[int, str] | None = None
    for snapshot_id, snapshot in repo.list_snapshots():
        if paths is not None and sorted(snapshot.paths) != sorted(paths):
            continue
        if hostname is not None and snapshot.hostname != hostname:
            continue
        if best is None or snapshot.time.unix_ns > best[0]:
            best = (snapshot.time.unix_ns, snapshot_id)
    return best[1] if best else None


def backup(
    repo: Repository,
    source: str,
    options: BackupOptions | None = None,
    *,
    progress: BackupProgressCallback | None = None,
    resume_from: BackupCheckpoint | None = None,
) -> BackupResult:
    """Back up the directory `source` into `repo` under a non-exclusive lock.

    `options.parent == "latest"` picks the newest snapshot with the same paths and host.
    """
    from datamover.archiver import backup_tree

    options = options or BackupOptions()
    if options.parent == LATEST:
        paths = list(options.paths or (os.path.abspath(source),))
        hostname = options.hostname or socket.gethostname()
        parent = latest_snapshot(repo, paths=paths, hostname=hostname)
        options = options.model_copy(update={"parent": parent})
    with repo.lock(exclusive=False, check_later=True):  # confirmed by save_snapshot
        return backup_tree(repo, source, options, progress=progress, resume_from=resume_from)


def restore(
    repo: Repository,
    snapshot: str,
    target: str,
    options: RestoreOptions | None = None,
    *,
    progress: RestoreProgressCallback | None = None,
) -> RestoreResult:
    """Restore `snapshot` (id, prefix or `latest`) into `target` under a non-exclusive lock.

    Files that cannot be restored are listed in `RestoreResult.errors`; the others are.
    """
    from datamover.restorer import restore_snapshot

    with repo.lock(exclusive=False, check_later=True):  # confirmed before any content is written
        return restore_snapshot(
            repo, snapshot, target, options or RestoreOptions(), progress=progress
        )
