"""Lifeboat's domain models: the contracts between workflows, activities, CLI and client.

Every model forbids unknown fields, is frozen, and round-trips through JSON (and so through
``temporalio.contrib.pydantic.pydantic_data_converter``). Validation errors name the field,
the value given and what is allowed; :func:`format_validation_error` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping

from lifeboat.models.backup import DEFAULT_RETENTION, BackupPolicy, BackupRequest, BackupSpec
from lifeboat.models.base import LifeboatModel
from lifeboat.models.cluster import DEFAULT_KUBELET_PODS_DIR, AwsLink, Cluster
from lifeboat.models.common import DEFAULT_STORAGE_LOCATION, DnsLabel, K8sName
from lifeboat.models.duration import Duration, PositiveDuration, format_duration, parse_duration
from lifeboat.models.errors import format_validation_error
from lifeboat.models.labels import LabelRequirement, parse_label_selector, selector_matches
from lifeboat.models.options import (
    BackupMethod,
    BackupOptions,
    DataMoverLimits,
    PvMode,
)
from lifeboat.models.recovery_point import (
    RecoveryPoint,
    RecoveryPointId,
    RecoveryPointStatus,
    VolumeBackup,
    VolumeBackupStatus,
    VolumeMethodDecision,
)
from lifeboat.models.restore import ExistingResourcePolicy, RestoreRequest
from lifeboat.models.schedule import OverlapPolicy, Schedule
from lifeboat.models.secrets import SecretRef, SecretUnavailableError
from lifeboat.models.selection import ClusterScoped, ResourceSelection
from lifeboat.models.storage import (
    RepositoryMaintenance,
    S3Credentials,
    StorageLocation,
)

MODELS: Mapping[str, type[LifeboatModel]] = {
    model.__name__: model
    for model in (
        Cluster,
        AwsLink,
        StorageLocation,
        S3Credentials,
        SecretRef,
        ResourceSelection,
        Schedule,
        BackupOptions,
        BackupPolicy,
        BackupRequest,
        RestoreRequest,
        RecoveryPoint,
        VolumeBackup,
        VolumeMethodDecision,
    )
}
"""The models a person may need to write by hand, by name (``lifeboat schema NAME``)."""

__all__ = [
    "DEFAULT_KUBELET_PODS_DIR",
    "DEFAULT_RETENTION",
    "DEFAULT_STORAGE_LOCATION",
    "MODELS",
    "AwsLink",
    "BackupMethod",
    "BackupOptions",
    "BackupPolicy",
    "BackupRequest",
    "BackupSpec",
    "Cluster",
    "ClusterScoped",
    "DataMoverLimits",
    "DnsLabel",
    "Duration",
    "ExistingResourcePolicy",
    "K8sName",
    "LabelRequirement",
    "LifeboatModel",
    "OverlapPolicy",
    "PositiveDuration",
    "PvMode",
    "RecoveryPoint",
    "RecoveryPointId",
    "RecoveryPointStatus",
    "RepositoryMaintenance",
    "ResourceSelection",
    "RestoreRequest",
    "S3Credentials",
    "Schedule",
    "SecretRef",
    "SecretUnavailableError",
    "StorageLocation",
    "VolumeBackup",
    "VolumeBackupStatus",
    "VolumeMethodDecision",
    "format_duration",
    "format_validation_error",
    "parse_duration",
    "parse_label_selector",
    "selector_matches",
]
