"""The result of a backup: what was saved, where, how each volume was read, until when."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, model_validator

from lifeboat.models.base import LifeboatModel
from lifeboat.models.common import Count, DnsLabel, K8sName
from lifeboat.models.constraints import matching
from lifeboat.models.duration import Duration
from lifeboat.models.errors import FieldErrors
from lifeboat.models.labels import LabelKey, LabelValue
from lifeboat.models.options import BackupMethod

RECOVERY_POINT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
SNAPSHOT_ID_PATTERN = r"^[0-9a-f]{64}$"


RecoveryPointId = Annotated[
    str,
    matching(
        "recovery_point_id",
        RECOVERY_POINT_ID_PATTERN,
        "a recovery point id (1 to 128 letters, digits, '.', '_' and '-', starting with a "
        "letter or digit)",
    ),
]
"""Id of a recovery point; safe in restic tags, workflow ids and file names."""

RepositorySnapshotId = Annotated[
    str,
    matching(
        "snapshot_id", SNAPSHOT_ID_PATTERN, "a repository snapshot id (64 lowercase hex digits)"
    ),
]
"""Id of a snapshot in the restic-format repository."""


class RecoveryPointStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    PARTIALLY_FAILED = "PartiallyFailed"
    """Resources saved, some volumes failed; never reported as plain success."""
    FAILED = "Failed"


class VolumeBackupStatus(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    SKIPPED = "Skipped"


class VolumeMethodDecision(LifeboatModel):
    """The plan for one volume, shown in the UI before any copy starts."""

    namespace: DnsLabel
    pvc: K8sName
    pv: K8sName
    storage_class: K8sName | None = None
    """The PV's storage class; none for a PV without one."""
    driver: str | None = None
    """CSI driver or provisioner of the PV."""
    node: K8sName | None = None
    """The node whose agent reads the volume; none until known or when skipped."""
    method: BackupMethod
    reason: str
    """Why this method, e.g. "storage class 'nfs' is set to pvc" or "driver supports
    snapshots"."""


class VolumeBackup(VolumeMethodDecision):
    """The outcome for one volume."""

    status: VolumeBackupStatus = VolumeBackupStatus.PENDING
    volume_snapshot: K8sName | None = None
    """The VolumeSnapshot taken, if any (in the PVC's namespace)."""
    volume_snapshot_content: K8sName | None = None
    """Its VolumeSnapshotContent, so a preserved snapshot can be expired exactly."""
    repository_snapshot_id: RepositorySnapshotId | None = None
    """The repository snapshot holding the copied data."""
    bytes_total: Count = 0
    """Bytes of the files in the volume."""
    bytes_read: Count = 0
    """Bytes the copy read: less than ``bytes_total`` when unchanged files were taken from
    the previous copy, or finished files from an interrupted attempt's checkpoint."""
    bytes_uploaded: Count = 0
    """Bytes new to the repository (after deduplication and compression)."""
    files: Count = 0
    duration: Duration | None = None
    error: str | None = None
    """Why the volume failed."""

    @model_validator(mode="after")
    def _failure_has_reason(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.status is VolumeBackupStatus.FAILED and not self.error:
            errors.add("error", "volume_error", "is required when status is 'Failed'", self.error)
        errors.raise_if_any()
        return self


class RecoveryPoint(LifeboatModel):
    """A catalog entry; it lives in the repository so a new control plane finds it."""

    id: RecoveryPointId
    cluster: DnsLabel
    policy: DnsLabel | None = None
    """The policy that made it; none for an ad-hoc backup."""
    storage_location: DnsLabel
    workflow_id: str | None = None
    """The backup workflow's id, for links to the Temporal UI."""
    created_at: AwareDatetime
    completed_at: AwareDatetime | None = None
    expires_at: AwareDatetime
    """When it is expired: its repository snapshots and catalog entry removed."""
    snapshot_expires_at: AwareDatetime | None = None
    """When its preserved VolumeSnapshots are removed; none when none were kept."""
    status: RecoveryPointStatus = RecoveryPointStatus.IN_PROGRESS
    resource_snapshot_id: RepositorySnapshotId | None = None
    """The repository snapshot holding the exported Kubernetes objects."""
    aws_snapshot_id: RepositorySnapshotId | None = None
    """The repository snapshot holding the EKS cluster's AWS configuration, if linked."""
    volumes: list[VolumeBackup] = []
    resource_counts: dict[str, Count] = {}
    """Objects saved per resource type, e.g. ``{"deployments.apps": 3}``."""
    warnings: list[str] = []
    labels: dict[LabelKey, LabelValue] = {}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.completed_at is not None and self.completed_at < self.created_at:
            errors.add(
                "completed_at",
                "recovery_point_time",
                f"{self.completed_at.isoformat()} is before created_at "
                f"{self.created_at.isoformat()}",
                self.completed_at.isoformat(),
            )
        if self.expires_at <= self.created_at:
            errors.add(
                "expires_at",
                "recovery_point_time",
                f"{self.expires_at.isoformat()} is not after created_at "
                f"{self.created_at.isoformat()}",
                self.expires_at.isoformat(),
            )
        if self.snapshot_expires_at is not None and self.snapshot_expires_at > self.expires_at:
            errors.add(
                "snapshot_expires_at",
                "recovery_point_time",
                f"{self.snapshot_expires_at.isoformat()} is after expires_at "
                f"{self.expires_at.isoformat()}; snapshots cannot outlive their recovery point",
                self.snapshot_expires_at.isoformat(),
            )
        if self.status is not RecoveryPointStatus.IN_PROGRESS and self.completed_at is None:
            errors.add(
                "completed_at",
                "recovery_point_time",
                f"is required when status is {self.status.value!r}",
                None,
            )
        failed = [v.pv for v in self.volumes if v.status is VolumeBackupStatus.FAILED]
        if self.status is RecoveryPointStatus.COMPLETED and failed:
            errors.add(
                "status",
                "recovery_point_status",
                f"'Completed' with failed volumes {', '.join(failed)}; "
                "a backup with a failed volume is 'PartiallyFailed' or 'Failed'",
                self.status.value,
            )
        errors.raise_if_any()
        return self
