"""Migration (back up cluster A, restore into cluster B, as one workflow) and replication (a
schedule of migrations that keeps B in step with A): requests, policies and results."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import model_validator

from lifeboat.contracts.aws import EksClusterOptions, EksRestoreResult
from lifeboat.contracts.restore import PruneResult
from lifeboat.contracts.restore_run import RestoreRunResult
from lifeboat.models import (
    BackupOptions,
    BackupRequest,
    LifeboatModel,
    RecoveryPoint,
    ResourceSelection,
    RestoreRequest,
)
from lifeboat.models.common import DEFAULT_STORAGE_LOCATION, DnsLabel
from lifeboat.models.duration import PositiveDuration
from lifeboat.models.errors import FieldErrors
from lifeboat.models.restore import ExistingResourcePolicy, ExistingVolumeDataPolicy, RestoreSpec
from lifeboat.models.schedule import Schedule

DEFAULT_MIGRATION_RETENTION = timedelta(days=7)
DEFAULT_REPLICATION_RETENTION = timedelta(days=1)
REPLICATION_RESTORE = RestoreSpec(
    existing_resource_policy=ExistingResourcePolicy.UPDATE,
    existing_volume_data=ExistingVolumeDataPolicy.REPLACE,
)
"""A replica follows its source: changed objects are updated and volume data replaced."""


class MigrationSpec(LifeboatModel):
    """What a migration and a replication share: from where, to where, what and how.
    ``{"source_cluster": "a", "target_cluster": "b"}`` is complete."""

    source_cluster: DnsLabel
    """The cluster backed up."""

    target_cluster: DnsLabel
    """The cluster restored into, by its Lifeboat name; with ``new_eks_cluster``, the name
    the new cluster is configured under."""

    storage_location: DnsLabel = DEFAULT_STORAGE_LOCATION
    """Where the recovery points that carry the migration are kept."""

    selection: ResourceSelection = ResourceSelection()
    """Which objects of the source are migrated (the replicated selection)."""

    backup_options: BackupOptions = BackupOptions()
    """How the source's volumes are read."""

    retention: PositiveDuration = DEFAULT_MIGRATION_RETENTION
    """How long each recovery point the migration makes is kept."""

    restore: RestoreSpec = RestoreSpec()
    """Namespace and storage class mappings, selection, existing-resource policy."""

    new_eks_cluster: EksClusterOptions | None = None
    """Create the target as a new EKS cluster from the source's backed-up AWS configuration
    (the source must be linked to an AWS account) before restoring into it; a later run
    finds the cluster it created."""

    @model_validator(mode="after")
    def _target_differs(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.target_cluster == self.source_cluster and not self.restore.namespace_mapping:
            errors.add(
                "target_cluster",
                "target_cluster",
                f"{self.target_cluster!r} is the source cluster; allowed: another cluster, "
                "or the same one with restore.namespace_mapping giving the copies new names",
                self.target_cluster,
            )
        errors.raise_if_any()
        return self


class MigrationRequest(MigrationSpec):
    """Input of the migration workflow."""

    replication: DnsLabel | None = None
    """The replication this run belongs to; its restored objects carry the name."""

    delete_removed: bool = False
    """Remove from the target the objects an earlier run of the same replication restored
    and that are gone from the source's selection. Only with ``replication``."""

    @model_validator(mode="after")
    def _delete_needs_replication(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.delete_removed and self.replication is None:
            errors.add(
                "delete_removed",
                "delete_removed",
                "true needs replication: only objects a replication restored are removed",
                self.delete_removed,
            )
        errors.raise_if_any()
        return self

    def backup_request(self) -> BackupRequest:
        return BackupRequest(
            cluster=self.source_cluster,
            storage_location=self.storage_location,
            selection=self.selection,
            options=self.backup_options,
            retention=self.retention,
            labels={"lifeboat.io/migration-to": self.target_cluster},
        )

    def restore_request(self, recovery_point: str) -> RestoreRequest:
        return RestoreRequest.model_validate(
            {
                **self.restore.model_dump(),
                "recovery_point": recovery_point,
                "storage_location": self.storage_location,
                "target_cluster": self.target_cluster,
                "replication": self.replication,
            }
        )


class ReplicationPolicy(MigrationSpec):
    """A migration on a schedule; it becomes a Temporal Schedule whose runs are migrations.

    Data is copied incrementally (each backup's parent is the previous copy of the same
    volume), changed objects are updated, and volume data is replaced in the target."""

    name: DnsLabel
    """The replication's name; the schedule's id derives from it."""

    description: str = ""

    schedule: Schedule
    """When it runs; overlapping runs are skipped by default."""

    retention: PositiveDuration = DEFAULT_REPLICATION_RETENTION
    restore: RestoreSpec = REPLICATION_RESTORE

    delete_removed: bool = False
    """Opt in to remove from the target the objects this replication restored that are gone
    from the source's selection."""

    def to_request(self) -> MigrationRequest:
        spec = self.model_dump(include=set(MigrationSpec.model_fields))
        return MigrationRequest.model_validate(
            {**spec, "replication": self.name, "delete_removed": self.delete_removed}
        )


class MigrationPhase(StrEnum):
    STARTING = "starting"
    BACKING_UP = "backing up the source"
    RESTORING = "restoring into the target"
    PRUNING = "removing what the source no longer has"
    DONE = "done"


class MigrationProgress(LifeboatModel):
    """The ``progress`` query's answer; the child runs' own queries tell more."""

    workflow_id: str
    phase: MigrationPhase = MigrationPhase.STARTING
    source: str = ""
    target: str = ""
    recovery_point: str | None = None
    children: dict[str, str] = {}
    """Child workflow type -> its workflow id."""
    message: str = ""


class MigrationStatus(StrEnum):
    COMPLETED = "Completed"
    PARTIALLY_FAILED = "PartiallyFailed"
    """The backup or the restore left some objects or volumes behind."""


class MigrationResult(LifeboatModel):
    workflow_id: str
    status: MigrationStatus
    recovery_point: RecoveryPoint
    restore: RestoreRunResult
    """The Kubernetes restore's result (of the EKS restore's, with a new EKS cluster)."""
    eks_restore: EksRestoreResult | None = None
    pruned: PruneResult = PruneResult()
