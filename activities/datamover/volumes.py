"""The node agent's activities: copy a mounted volume into the repository and back.

A copy heartbeats its progress with the data mover's checkpoint; when the activity is
retried (the agent was killed, the node restarted), the new attempt starts from the last
heartbeat's checkpoint, so nothing already stored is uploaded again.
"""

from __future__ import annotations

import contextvars
import os
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.repository import open_repository, when_unlocked
from activities.tags import SnapshotKind, snapshot_tags
from datamover.api import (
    BackupCheckpoint,
    BackupOptions,
    BackupProgress,
    RestoreOptions,
    backup,
    latest_snapshot,
    restore,
)
from lifeboat.contracts.volumes import (
    CopyProgress,
    CopyVolumeInput,
    CopyVolumeResult,
    RestoreVolumeInput,
    RestoreVolumeResult,
    VolumePath,
    volume_snapshot_path,
)

log = structlog.get_logger(__name__)

COPY_LOCK_WAIT_SECONDS = 30 * 60.0
"""How long a copy waits for a repository's garbage collection to end before failing."""


class NodeActivities:
    """Activities of the node agent on one node; `kubelet_pods_dir` is the agent's own view."""

    def __init__(self, node: str, kubelet_pods_dir: Path) -> None:
        self.node = node
        self.kubelet_pods_dir = kubelet_pods_dir

    def all(self) -> list[Callable[..., object]]:
        return [self.copy_volume, self.restore_volume]

    def _local_path(self, where: VolumePath) -> Path:
        if where.node != self.node:
            raise ApplicationError(
                f"volume is on node {where.node!r}, this agent serves {self.node!r}",
                type="WrongNode",
                non_retryable=True,
            )
        path = self.kubelet_pods_dir / where.relative_path
        if not path.is_dir():  # follows the mount (a directory, or a symlink to one)
            raise ApplicationError(
                f"volume path {where.relative_path!r} is not mounted under "
                f"{self.kubelet_pods_dir} on {self.node}",
                type="VolumeNotMounted",
            )
        return path

    @activity.defn(name="volume.copy")
    def copy_volume(self, inp: CopyVolumeInput) -> CopyVolumeResult:
        source = self._local_path(inp.source)
        checkpoint = _last_checkpoint()
        label = volume_snapshot_path(inp.cluster, inp.volume)
        started = time.monotonic()
        with open_repository(
            inp.storage_location, bandwidth_limit_mib=inp.bandwidth_limit_mib
        ) as repo:
            parent = latest_snapshot(repo, paths=[label], hostname=inp.cluster)
            options = BackupOptions(
                files=inp.files,
                memory_limit_mib=inp.memory_limit_mib,
                tags=snapshot_tags(
                    SnapshotKind.VOLUME,
                    recovery_point=inp.recovery_point,
                    cluster=inp.cluster,
                    namespace=inp.volume.namespace,
                    pvc=inp.volume.pvc,
                ),
                hostname=inp.cluster,
                paths=(label,),
                parent=parent if inp.incremental else None,
            )
            log.info(
                "volume.copy.start",
                pvc=f"{inp.volume.namespace}/{inp.volume.pvc}",
                resumed=checkpoint is not None,
                parent=parent,
            )
            result = when_unlocked(
                COPY_LOCK_WAIT_SECONDS,
                lambda: backup(
                    repo,
                    os.fspath(source),
                    options,
                    progress=partial(_heartbeat, _heartbeater()),
                    resume_from=checkpoint,
                ),
            )
        return CopyVolumeResult(
            snapshot_id=result.snapshot_id,
            parent_snapshot_id=options.parent,
            files=result.files,
            files_unmodified=result.files_unmodified,
            bytes_read=result.bytes_read,
            bytes_new=result.bytes_new,
            bytes_uploaded=result.bytes_uploaded,
            bytes_total=result.bytes_total,
            duration_seconds=time.monotonic() - started,
            resumed=checkpoint is not None,
            warnings=result.warnings,
        )

    @activity.defn(name="volume.restore")
    def restore_volume(self, inp: RestoreVolumeInput) -> RestoreVolumeResult:
        target = self._local_path(inp.target)
        beat = _heartbeater()
        started = time.monotonic()
        if inp.replace:
            empty_directory(target)
        # The index is read while the restore takes its lock and starts its worker processes.
        with open_repository(
            inp.storage_location, bandwidth_limit_mib=inp.bandwidth_limit_mib, index_later=True
        ) as repo:
            result = when_unlocked(
                COPY_LOCK_WAIT_SECONDS,
                lambda: restore(
                    repo,
                    inp.snapshot_id,
                    os.fspath(target),
                    RestoreOptions(files=inp.files, memory_limit_mib=inp.memory_limit_mib),
                    progress=lambda p: beat(p.model_dump(mode="json")),
                ),
            )
        if result.errors:
            # Restoring again writes the same files; a retry fixes what was transient.
            raise ApplicationError(
                f"{len(result.errors)} files could not be restored: {'; '.join(result.errors[:5])}",
                type="RestoreIncomplete",
            )
        return RestoreVolumeResult(
            files=result.files,
            bytes_written=result.bytes_written,
            duration_seconds=time.monotonic() - started,
            warnings=result.warnings,
        )


def _heartbeater() -> Callable[[object], None]:
    """`activity.heartbeat` for the data mover's progress thread.

    The activity's context lives in a context variable of the thread that runs the
    activity; called from the data mover's own reporter thread, `activity.heartbeat` fails
    with "Not in activity context" and the copy with it. A copy of the context goes along.
    """
    context = contextvars.copy_context()

    def beat(details: object) -> None:
        context.run(activity.heartbeat, details)

    return beat


def _heartbeat(beat: Callable[[object], None], progress: BackupProgress) -> None:
    beat(
        CopyProgress(
            files_done=progress.files_done,
            files_total=progress.files_total,
            bytes_read=progress.bytes_read,
            bytes_total=progress.bytes_total,
            bytes_uploaded=progress.bytes_uploaded,
            current_file=progress.current_file,
            checkpoint=(
                progress.checkpoint.model_dump(mode="json") if progress.checkpoint else None
            ),
        ).model_dump(mode="json")
    )


def _last_checkpoint() -> BackupCheckpoint | None:
    """The checkpoint the previous attempt heartbeated last, if this is a retry."""
    details = activity.info().heartbeat_details
    if not details:
        return None
    last = CopyProgress.model_validate(details[-1])
    if last.checkpoint is None:
        return None
    return BackupCheckpoint.model_validate(last.checkpoint)


KEPT_ON_REPLACE = frozenset({"lost+found"})
"""Made by mkfs on ext filesystems; fsck needs it, and it is no data of the backup's."""


def empty_directory(path: Path) -> None:
    """Remove what a volume holds, so a restore into it leaves exactly the snapshot's files;
    symbolic links are removed, never followed."""
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.name in KEPT_ON_REPLACE:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
