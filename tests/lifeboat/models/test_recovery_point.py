from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from lifeboat.models import (
    RecoveryPoint,
    RecoveryPointStatus,
    VolumeBackup,
    VolumeBackupStatus,
    VolumeMethodDecision,
)

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


CREATED = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
SNAPSHOT_ID = "a" * 64


def volume(**changes: object) -> dict[str, object]:
    return {
        "namespace": "shop",
        "pvc": "data-db-0",
        "pv": "pvc-1234",
        "storage_class": "csi-snap",
        "driver": "hostpath.csi.k8s.io",
        "node": "node-1",
        "method": "snapshot",
        "reason": "driver supports snapshots",
        **changes,
    }


def point(**changes: object) -> dict[str, object]:
    return {
        "id": "backup-dev-20250101T020000Z",
        "cluster": "dev",
        "storage_location": "default",
        "created_at": CREATED,
        "completed_at": CREATED + timedelta(minutes=5),
        "expires_at": CREATED + timedelta(days=30),
        "status": "Completed",
        **changes,
    }


def test_plan_decision() -> None:
    decision = VolumeMethodDecision.model_validate(volume(method="pvc", reason="no snapshots"))
    assert decision.method == "pvc"


def test_volume_backup_outcome(rejection: Rejection) -> None:
    done = VolumeBackup.model_validate(
        volume(
            status="Completed",
            volume_snapshot="lb-backup-dev-1-data-db-0",
            volume_snapshot_content="snapcontent-1",
            repository_snapshot_id=SNAPSHOT_ID,
            bytes_total=10_000,
            bytes_uploaded=4_000,
            files=12,
            duration="PT42S",
        )
    )
    assert done.duration == timedelta(seconds=42)
    assert rejection(VolumeBackup, volume(status="Failed")) == (
        "error: is required when status is 'Failed'"
    )
    assert rejection(VolumeBackup, volume(repository_snapshot_id="abc")) == (
        "repository_snapshot_id: 'abc' is not a repository snapshot id (64 lowercase hex digits)"
    )
    assert rejection(VolumeBackup, volume(bytes_total=-1)) == (
        "bytes_total: input should be greater than or equal to 0; given -1"
    )


def test_recovery_point() -> None:
    recovery_point = RecoveryPoint.model_validate(
        point(
            policy="nightly",
            snapshot_expires_at=CREATED + timedelta(days=3),
            resource_snapshot_id=SNAPSHOT_ID,
            volumes=[volume(status="Completed", repository_snapshot_id=SNAPSHOT_ID)],
            resource_counts={"deployments.apps": 3, "configmaps": 7},
            warnings=["pod shop/web-1 was not running"],
        )
    )
    assert recovery_point.status is RecoveryPointStatus.COMPLETED
    assert recovery_point.volumes[0].status is VolumeBackupStatus.COMPLETED


def test_a_failed_volume_is_never_plain_success(rejection: Rejection) -> None:
    failed = volume(status="Failed", error="snapshot never became ready")
    assert rejection(RecoveryPoint, point(volumes=[failed])) == (
        "status: 'Completed' with failed volumes pvc-1234; "
        "a backup with a failed volume is 'PartiallyFailed' or 'Failed'"
    )
    partial = RecoveryPoint.model_validate(point(status="PartiallyFailed", volumes=[failed]))
    assert partial.volumes[0].error == "snapshot never became ready"


def test_times_consistent(rejection: Rejection) -> None:
    message = rejection(
        RecoveryPoint,
        point(
            completed_at=CREATED - timedelta(seconds=1),
            expires_at=CREATED,
            snapshot_expires_at=CREATED + timedelta(days=1),
        ),
    )
    assert message.splitlines() == [
        "completed_at: 2025-01-01T01:59:59+00:00 is before created_at 2025-01-01T02:00:00+00:00",
        "expires_at: 2025-01-01T02:00:00+00:00 is not after created_at 2025-01-01T02:00:00+00:00",
        "snapshot_expires_at: 2025-01-02T02:00:00+00:00 is after expires_at "
        "2025-01-01T02:00:00+00:00; snapshots cannot outlive their recovery point",
    ]
    assert rejection(RecoveryPoint, point(status="Failed", completed_at=None)) == (
        "completed_at: is required when status is 'Failed'"
    )
    assert RecoveryPoint.model_validate(point(status="InProgress", completed_at=None))


def test_times_must_carry_a_time_zone(rejection: Rejection) -> None:
    naive = point(created_at=datetime(2025, 1, 1, 2, 0))
    assert rejection(RecoveryPoint, naive) == (
        "created_at: input should have timezone info; given datetime.datetime(2025, 1, 1, 2, 0)"
    )
