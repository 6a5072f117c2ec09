"""What a running backup or restore reports through its `progress` query."""

from __future__ import annotations

from enum import StrEnum

from lifeboat.models import LifeboatModel, VolumeBackup, VolumeMethodDecision


class Phase(StrEnum):
    PREPARING = "preparing"
    DISCOVERING = "discovering"
    PLANNED = "planned"
    SNAPSHOTTING = "snapshotting"
    EXPORTING = "exporting resources"
    COPYING = "copying volumes"
    CLEANING_UP = "cleaning up"
    RECORDING = "recording"
    RESTORING_RESOURCES = "restoring resources"
    RESTORING_VOLUMES = "restoring volumes"
    RESTORING_WORKLOADS = "restoring workloads"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunProgress(LifeboatModel):
    """A snapshot of a run's progress; `bytes_done` counts volume data copied so far."""

    workflow_id: str
    recovery_point: str | None = None
    phase: Phase = Phase.PREPARING
    plan: list[VolumeMethodDecision] = []
    volumes: list[VolumeBackup] = []
    volumes_done: int = 0
    volumes_total: int = 0
    bytes_done: int = 0
    bytes_per_second: float = 0.0
    objects_done: int = 0
    message: str = ""
