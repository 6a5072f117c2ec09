"""The result of a RestoreWorkflow run: every object and volume with its outcome."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from lifeboat.contracts.restore import RestoreObjectResult, RestoreOutcome
from lifeboat.models import LifeboatModel


class RestoreStatus(StrEnum):
    COMPLETED = "Completed"
    PARTIALLY_FAILED = "PartiallyFailed"
    """Some objects or volumes failed; the rest were restored."""


class VolumeRestoreOutcome(StrEnum):
    RESTORED = "restored"
    SKIPPED = "skipped"
    FAILED = "failed"


class VolumeRestoreResult(LifeboatModel):
    source_namespace: str
    namespace: str
    pvc: str
    outcome: VolumeRestoreOutcome
    reason: str | None = None
    node: str | None = None
    files: int = 0
    bytes_written: int = 0
    duration: timedelta | None = None


class RestoreRunResult(LifeboatModel):
    workflow_id: str
    recovery_point: str
    target_cluster: str
    status: RestoreStatus
    objects: list[RestoreObjectResult]
    volumes: list[VolumeRestoreResult]

    @property
    def counts(self) -> dict[str, int]:
        tally = {outcome.value: 0 for outcome in RestoreOutcome}
        for obj in self.objects:
            tally[obj.outcome.value] += 1
        return tally
