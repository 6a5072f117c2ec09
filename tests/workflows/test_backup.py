"""BackupWorkflow against the real stack: the plan per storage class, the data, snapshots.

The shared application has one volume per storage class (see `SHARED_VOLUMES`); every test
backs up its namespace with other options and checks the plan recorded in the recovery
point, then that each copied volume restores to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from devstack.info import StackInfo
from devstack.kube.faults import Fault, FaultKind, FaultSet, clear_faults, set_faults
from lifeboat.client import LifeboatClient
from lifeboat.contracts.kube import EXPIRES_AT_ANNOTATION, PRESERVED_LABEL
from lifeboat.models import (
    BackupMethod,
    BackupRequest,
    RecoveryPoint,
    RecoveryPointStatus,
    VolumeBackup,
    VolumeBackupStatus,
)

SNAPSHOTS = "/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots"


async def back_up(lifeboat: LifeboatClient, namespace: str, **spec: Any) -> RecoveryPoint:
    run = await lifeboat.start_backup(
        BackupRequest.model_validate(
            {"cluster": "dev", "selection": {"include_namespaces": [namespace]}, **spec}
        )
    )
    return await run.result()


def by_pvc(point: RecoveryPoint) -> dict[str, VolumeBackup]:
    return {v.pvc: v for v in point.volumes}


def plan(point: RecoveryPoint) -> dict[str, BackupMethod]:
    return {v.pvc: v.method for v in point.volumes}


def assert_copied_exactly(
    point: RecoveryPoint, app: Any, repository_digest: Callable[[str], str], *pvcs: str
) -> None:
    volumes = by_pvc(point)
    for pvc in pvcs:
        volume = volumes[pvc]
        assert volume.status is VolumeBackupStatus.COMPLETED, volume
        assert volume.repository_snapshot_id is not None
        assert volume.files > 0
        assert repository_digest(volume.repository_snapshot_id) == app.volumes[pvc].digest, pvc


async def test_defaults_snapshot_what_can_be_and_read_the_rest_directly(
    default_backup: Any, app: Any, kube: Any, repository_digest: Callable[[str], str]
) -> None:
    point: RecoveryPoint = default_backup.result
    assert point.status is RecoveryPointStatus.COMPLETED
    assert plan(point) == {
        "snap": BackupMethod.SNAPSHOT,
        "nosnap": BackupMethod.HOST_VOLUME,
        "idle": BackupMethod.PVC,
        "local": BackupMethod.HOST_VOLUME,
        "shared": BackupMethod.HOST_VOLUME,
    }
    volumes = by_pvc(point)
    assert "snapshot_before_backup is on" in volumes["snap"].reason
    assert "hostpath.csi.k8s.io supports snapshots" in volumes["snap"].reason
    assert "pod app-nosnap" in volumes["nosnap"].reason
    assert "no running pod mounts it" in volumes["idle"].reason
    assert "not a CSI volume" in volumes["local"].reason
    assert volumes["local"].node == app.volumes["local"].node
    assert_copied_exactly(point, app, repository_digest, *app.volumes)
    assert point.snapshot_expires_at is None
    assert point.resource_counts.get("configmaps", 0) >= 1
    # Snapshots were only the copy's source: deleted, like every mounter pod and temp PVC.
    assert volumes["snap"].volume_snapshot is not None
    assert kube.items("dev", SNAPSHOTS.format(ns=app.namespace)) == []
    assert kube.managed_objects("dev") == []


async def test_storage_class_methods_win_over_the_switches(
    lifeboat: LifeboatClient, app: Any, repository_digest: Callable[[str], str]
) -> None:
    point = await back_up(
        lifeboat,
        app.namespace,
        options={
            "snapshot_before_backup": False,
            "storage_class_methods": {"csi-nosnap": "pvc", "nfs": "host_volume", "local": "skip"},
        },
    )
    assert point.status is RecoveryPointStatus.COMPLETED
    assert plan(point) == {
        "snap": BackupMethod.HOST_VOLUME,
        "nosnap": BackupMethod.PVC,
        "idle": BackupMethod.PVC,
        "local": BackupMethod.SKIP,
        "shared": BackupMethod.HOST_VOLUME,
    }
    volumes = by_pvc(point)
    assert "snapshot_before_backup is off" in volumes["snap"].reason
    assert volumes["nosnap"].reason == "storage class 'csi-nosnap' is set to pvc"
    assert volumes["shared"].reason == "storage class 'nfs' is set to host_volume"
    assert volumes["local"].reason == "storage class 'local' is set to skip"
    assert volumes["local"].status is VolumeBackupStatus.SKIPPED
    assert volumes["local"].repository_snapshot_id is None
    assert volumes["snap"].volume_snapshot is None
    assert_copied_exactly(point, app, repository_digest, "snap", "nosnap", "idle", "shared")


async def test_preserved_snapshots_carry_their_expiry(
    lifeboat: LifeboatClient, app: Any, kube: Any, repository_digest: Callable[[str], str]
) -> None:
    point = await back_up(
        lifeboat,
        app.namespace,
        snapshot_retention="2d",
        options={
            "backup_unsnapshotted_directly": False,
            "storage_class_methods": {"csi-snap": "snapshot"},
            "preserve_snapshots": True,
        },
    )
    assert point.status is RecoveryPointStatus.COMPLETED
    volumes = by_pvc(point)
    assert plan(point)["snap"] is BackupMethod.SNAPSHOT
    assert volumes["snap"].reason == "storage class 'csi-snap' is set to snapshot"
    for pvc in ("nosnap", "idle", "local", "shared"):
        assert volumes[pvc].method is BackupMethod.SKIP
        assert "backup_unsnapshotted_directly is off" in volumes[pvc].reason
        assert volumes[pvc].status is VolumeBackupStatus.SKIPPED
    assert_copied_exactly(point, app, repository_digest, "snap")

    assert point.snapshot_expires_at is not None and point.completed_at is not None
    assert point.completed_at - point.snapshot_expires_at + timedelta(days=2) < timedelta(minutes=1)
    assert point.expires_at - point.snapshot_expires_at > timedelta(days=27)
    path = f"{SNAPSHOTS.format(ns=app.namespace)}/{volumes['snap'].volume_snapshot}"
    kept = kube.get("dev", path)
    assert kept["status"]["readyToUse"] is True
    assert kept["metadata"]["labels"][PRESERVED_LABEL] == "true"
    expires = kept["metadata"]["annotations"][EXPIRES_AT_ANNOTATION]
    assert expires == point.snapshot_expires_at.isoformat()
    kube.delete("dev", path)


async def test_snapshot_only_keeps_snapshots_and_copies_nothing(
    lifeboat: LifeboatClient, app: Any, kube: Any
) -> None:
    point = await back_up(lifeboat, app.namespace, options={"pv_mode": "snapshot_only"})
    assert point.status is RecoveryPointStatus.COMPLETED
    volumes = by_pvc(point)
    snap = volumes["snap"]
    assert snap.method is BackupMethod.SNAPSHOT
    assert snap.reason.startswith("snapshot_only: ")
    assert snap.status is VolumeBackupStatus.COMPLETED
    assert snap.repository_snapshot_id is None
    assert snap.bytes_total == 0
    for pvc in ("nosnap", "idle", "local", "shared"):
        assert volumes[pvc].method is BackupMethod.SKIP
        assert "snapshot_only and it cannot be snapshotted" in volumes[pvc].reason
        assert volumes[pvc].repository_snapshot_id is None
    # The snapshot is the backup: kept, until the retention (no snapshot_retention given).
    assert point.snapshot_expires_at is not None
    assert point.expires_at - point.snapshot_expires_at < timedelta(minutes=1)
    path = f"{SNAPSHOTS.format(ns=app.namespace)}/{snap.volume_snapshot}"
    kept = kube.get("dev", path)
    assert kept["status"]["readyToUse"] is True
    assert kept["metadata"]["annotations"][EXPIRES_AT_ANNOTATION]
    kube.delete("dev", path)


async def test_a_selection_without_volumes_backs_up_its_resources(
    lifeboat: LifeboatClient, apps: Any
) -> None:
    bare = apps.make("wf-novol", [])
    point = await back_up(lifeboat, bare.namespace)
    assert point.status is RecoveryPointStatus.COMPLETED
    assert point.volumes == []
    assert point.resource_snapshot_id is not None
    assert point.resource_counts["configmaps"] >= 1
    assert point.resource_counts["namespaces"] == 1


async def test_a_snapshot_never_ready_fails_its_volume_only(
    lifeboat: LifeboatClient, app: Any, kube: Any, stack: StackInfo
) -> None:
    api_url = stack.clusters["dev"].api_url
    set_faults(
        api_url,
        FaultSet(faults=(Fault(kind=FaultKind.SNAPSHOT_NEVER_READY, namespace=app.namespace),)),
    )
    try:
        point = await back_up(
            lifeboat,
            app.namespace,
            options={"snapshot_ready_timeout": "5s", "storage_class_methods": {"local": "skip"}},
        )
    finally:
        clear_faults(api_url)
    assert point.status is RecoveryPointStatus.PARTIALLY_FAILED
    volumes = by_pvc(point)
    snap = volumes["snap"]
    assert snap.method is BackupMethod.SNAPSHOT
    assert snap.status is VolumeBackupStatus.FAILED
    assert snap.error is not None and "not ready within 0:00:05" in snap.error
    assert snap.repository_snapshot_id is None
    # The stuck snapshot was removed; the other volumes were copied all the same.
    assert kube.items("dev", SNAPSHOTS.format(ns=app.namespace)) == []
    for pvc in ("nosnap", "idle", "shared"):
        assert volumes[pvc].status is VolumeBackupStatus.COMPLETED
    assert kube.managed_objects("dev") == []


async def test_the_backup_history_replays(default_backup: Any, replay: Any) -> None:
    await replay("backup", default_backup.history)


async def test_the_repository_passes_restic_check_with_all_data_read(
    default_backup: Any, restic: Callable[..., str]
) -> None:
    """Last in this module: every backup above wrote into the repository restic reads."""
    out = restic("check", "--read-data")
    assert "no errors were found" in out
    snapshots = restic("snapshots", "--json", "--tag", f"recovery-point={default_backup.result.id}")
    assert default_backup.result.volumes[0].repository_snapshot_id[:8] in snapshots
