"""Inputs and outputs of the cluster agent's repository-facing resource activities:
export the selected objects into the repository, and restore them from it."""

from __future__ import annotations

from lifeboat.contracts.kube import RunId
from lifeboat.contracts.restore import ALL_STAGES, RestoreStage
from lifeboat.models import (
    DnsLabel,
    LifeboatModel,
    RecoveryPointId,
    ResourceSelection,
    RestoreRequest,
    StorageLocation,
)
from lifeboat.models.common import Count


class ExportToRepositoryInput(LifeboatModel):
    run_id: RunId
    recovery_point: RecoveryPointId
    cluster: DnsLabel
    storage_location: StorageLocation
    selection: ResourceSelection = ResourceSelection()


class ExportToRepositoryResult(LifeboatModel):
    snapshot_id: str
    counts: dict[str, Count]
    total: Count


class RestoreFromRepositoryInput(LifeboatModel):
    run_id: RunId
    storage_location: StorageLocation
    snapshot_id: str
    request: RestoreRequest
    stages: tuple[RestoreStage, ...] = ALL_STAGES


def resources_snapshot_path(cluster: str) -> str:
    """The resource snapshots' path label, stable per cluster."""
    return f"/{cluster}/resources"
