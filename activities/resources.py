"""The cluster agent's activities between the Kubernetes API and the repository.

Export writes the selected objects as a manifest tree in a scratch directory and backs
that tree up as one repository snapshot (so `restic restore` gives a person the YAML-able
JSON files); restore fetches such a snapshot back and recreates the objects from it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from temporalio import activity

from activities.kube.connection import api_client
from activities.kube.export import export_resources
from activities.kube.heartbeat import heartbeat
from activities.kube.restore_apply import restore_resources
from activities.repository import open_repository, when_unlocked
from activities.tags import SnapshotKind, snapshot_tags
from datamover.api import BackupOptions, RestoreOptions, backup, restore
from lifeboat.contracts.resources import (
    ExportToRepositoryInput,
    ExportToRepositoryResult,
    RestoreFromRepositoryInput,
    resources_snapshot_path,
)
from lifeboat.contracts.restore import RestoreResourcesInput, RestoreResourcesResult
from lifeboat.models import Cluster

_FILES = 8
_MEMORY_MIB = 512
RESOURCES_LOCK_WAIT_SECONDS = 4 * 60.0
"""Within the 5 minutes the workflow gives these activities."""


class ResourceActivities:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def all(self) -> list[Callable[..., object]]:
        return [self.export_to_repository, self.restore_from_repository]

    @activity.defn(name="resources.export")
    def export_to_repository(self, inp: ExportToRepositoryInput) -> ExportToRepositoryResult:
        with tempfile.TemporaryDirectory(prefix="lifeboat-export-") as scratch:
            with api_client(self.cluster) as api:
                exported = export_resources(api, inp.selection, Path(scratch))
            heartbeat(f"exported {exported.total} objects")
            with open_repository(inp.storage_location) as repo:
                result = when_unlocked(
                    RESOURCES_LOCK_WAIT_SECONDS,
                    lambda: backup(
                        repo,
                        scratch,
                        BackupOptions(
                            files=_FILES,
                            memory_limit_mib=_MEMORY_MIB,
                            hostname=inp.cluster,
                            paths=(resources_snapshot_path(inp.cluster),),
                            tags=snapshot_tags(
                                SnapshotKind.RESOURCES,
                                recovery_point=inp.recovery_point,
                                cluster=inp.cluster,
                            ),
                        ),
                    ),
                )
        return ExportToRepositoryResult(
            snapshot_id=result.snapshot_id, counts=exported.counts, total=exported.total
        )

    @activity.defn(name="resources.restore")
    def restore_from_repository(self, inp: RestoreFromRepositoryInput) -> RestoreResourcesResult:
        with tempfile.TemporaryDirectory(prefix="lifeboat-restore-") as scratch:
            with open_repository(inp.storage_location) as repo:
                fetched = when_unlocked(
                    RESOURCES_LOCK_WAIT_SECONDS,
                    lambda: restore(
                        repo,
                        inp.snapshot_id,
                        scratch,
                        RestoreOptions(files=_FILES, memory_limit_mib=_MEMORY_MIB, owner=False),
                    ),
                )
            if fetched.errors:
                raise RuntimeError(
                    f"could not fetch the exported resources: {'; '.join(fetched.errors[:3])}"
                )
            with api_client(self.cluster) as api:
                return restore_resources(
                    api,
                    RestoreResourcesInput(
                        run_id=inp.run_id,
                        request=inp.request,
                        resources_dir=scratch,
                        stages=inp.stages,
                    ),
                )
