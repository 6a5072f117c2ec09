"""Inputs and outputs of the control worker's catalog activities.

The catalog of recovery points lives in each storage location's repository; these
activities resolve the names in a request against the configuration and read or write it.
"""

from __future__ import annotations

from lifeboat.models import (
    BackupRequest,
    Cluster,
    DnsLabel,
    LifeboatModel,
    RecoveryPoint,
    RecoveryPointId,
    RestoreRequest,
    StorageLocation,
)


class BackupContext(LifeboatModel):
    """What a backup run needs beyond its request: the named cluster and location, resolved."""

    cluster: Cluster
    storage_location: StorageLocation
    repository_id: str


class PrepareBackupInput(LifeboatModel):
    request: BackupRequest


class RecordInput(LifeboatModel):
    storage_location: StorageLocation
    recovery_point: RecoveryPoint


class ListRecoveryPointsInput(LifeboatModel):
    storage_location: DnsLabel = "default"
    cluster: DnsLabel | None = None


class GetRecoveryPointInput(LifeboatModel):
    storage_location: DnsLabel = "default"
    id: RecoveryPointId


class RestoreContext(LifeboatModel):
    recovery_point: RecoveryPoint
    source_cluster: DnsLabel
    target_cluster: Cluster
    storage_location: StorageLocation


class PrepareRestoreInput(LifeboatModel):
    request: RestoreRequest
