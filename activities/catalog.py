"""The control worker's catalog: resolve names in requests, keep recovery points.

A recovery point is stored as a repository snapshot tagged `kind=catalog` holding
`recovery-point.json`; a new record of the same id supersedes the older (newest wins), and
expiry forgets all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.repository import open_repository
from activities.tags import LIFEBOAT, SnapshotKind, recovery_point_tag, snapshot_tags
from datamover.documents import load_document, save_documents
from datamover.repository import Repository
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.catalog import (
    BackupContext,
    GetRecoveryPointInput,
    ListRecoveryPointsInput,
    PrepareBackupInput,
    PrepareRestoreInput,
    RecordInput,
    RestoreContext,
)
from lifeboat.models import RecoveryPoint, StorageLocation

RECORD_NAME = "recovery-point.json"
CATALOG_KIND_TAG = f"kind={SnapshotKind.CATALOG.value}"


def _invalid(message: str) -> ApplicationError:
    """A request that can never succeed: fail the run at once, before any side effect."""
    return ApplicationError(message, type="InvalidRequest", non_retryable=True)


class CatalogActivities:
    def __init__(self, config: LifeboatConfig) -> None:
        self.config = config

    def all(self) -> list[Callable[..., object]]:
        return [
            self.prepare_backup,
            self.record,
            self.list_recovery_points,
            self.get_recovery_point,
            self.prepare_restore,
        ]

    def _location(self, name: str) -> StorageLocation:
        try:
            return self.config.storage_location(name)
        except KeyError as exc:
            raise _invalid(str(exc.args[0])) from None

    @activity.defn(name="catalog.prepare_backup")
    def prepare_backup(self, inp: PrepareBackupInput) -> BackupContext:
        try:
            cluster = self.config.cluster(inp.request.cluster)
        except KeyError as exc:
            raise _invalid(str(exc.args[0])) from None
        location = self._location(inp.request.storage_location)
        with open_repository(location, create=True) as repo:
            return BackupContext(
                cluster=cluster, storage_location=location, repository_id=repo.config.id
            )

    @activity.defn(name="catalog.record")
    def record(self, inp: RecordInput) -> str:
        rp = inp.recovery_point
        with open_repository(inp.storage_location) as repo:
            return save_documents(
                repo,
                {RECORD_NAME: rp.model_dump_json(indent=2).encode()},
                path=f"/lifeboat/catalog/{rp.id}",
                hostname=rp.cluster,
                tags=snapshot_tags(SnapshotKind.CATALOG, recovery_point=rp.id, cluster=rp.cluster),
            )

    @activity.defn(name="catalog.list")
    def list_recovery_points(self, inp: ListRecoveryPointsInput) -> list[RecoveryPoint]:
        with open_repository(self._location(inp.storage_location)) as repo:
            points = read_catalog(repo)
        if inp.cluster is not None:
            points = [p for p in points if p.cluster == inp.cluster]
        return sorted(points, key=lambda p: p.created_at)

    @activity.defn(name="catalog.get")
    def get_recovery_point(self, inp: GetRecoveryPointInput) -> RecoveryPoint:
        with open_repository(self._location(inp.storage_location)) as repo:
            return find_recovery_point(repo, inp.id)

    @activity.defn(name="catalog.prepare_restore")
    def prepare_restore(self, inp: PrepareRestoreInput) -> RestoreContext:
        request = inp.request
        location = self._location(request.storage_location)
        with open_repository(location) as repo:
            rp = find_recovery_point(repo, request.recovery_point)
        target_name = request.target_cluster or rp.cluster
        try:
            target = self.config.cluster(target_name)
        except KeyError as exc:
            raise _invalid(str(exc.args[0]).replace("cluster:", "target_cluster:", 1)) from None
        return RestoreContext(
            recovery_point=rp,
            source_cluster=rp.cluster,
            target_cluster=target,
            storage_location=location,
        )


def read_catalog(repo: Repository) -> list[RecoveryPoint]:
    """The newest record of every recovery point in the repository."""
    newest: dict[str, tuple[int, str]] = {}
    for snapshot_id, snap in repo.list_snapshots():
        tags = set(snap.tags or ())
        if LIFEBOAT not in tags or CATALOG_KIND_TAG not in tags:
            continue
        rp_tag = next((t for t in tags if t.startswith("recovery-point=")), None)
        if rp_tag is None:
            continue
        key = rp_tag.removeprefix("recovery-point=")
        if key not in newest or snap.time.unix_ns > newest[key][0]:
            newest[key] = (snap.time.unix_ns, snapshot_id)
    return [
        RecoveryPoint.model_validate(json.loads(load_document(repo, sid, RECORD_NAME)))
        for _, sid in newest.values()
    ]


def find_recovery_point(repo: Repository, recovery_point_id: str) -> RecoveryPoint:
    wanted = recovery_point_tag(recovery_point_id)
    matches = [
        (snap.time.unix_ns, sid)
        for sid, snap in repo.list_snapshots()
        if wanted in (snap.tags or ()) and CATALOG_KIND_TAG in (snap.tags or ())
    ]
    if not matches:
        raise _invalid(f"recovery_point: {recovery_point_id!r} is not in the catalog")
    _, sid = max(matches)
    return RecoveryPoint.model_validate(json.loads(load_document(repo, sid, RECORD_NAME)))
