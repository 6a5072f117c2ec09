"""Inputs, outputs and progress of a repository's maintenance (workflow and activities)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from datamover.limits import DEFAULT_GC_SAFETY_MARGIN
from lifeboat.models import DnsLabel, LifeboatModel, RepositoryMaintenance
from lifeboat.models.duration import Duration, PositiveDuration
from lifeboat.models.storage import Percent

MAINTENANCE_WORKFLOW = "RepositoryMaintenance"
SCHEDULED_MAINTENANCE_WORKFLOW = "ScheduledRepositoryMaintenance"
JOB_NAME = "maintenance"

REPOSITORY_LOCKED = "RepositoryLocked"
"""Error type of an activity that found the repository locked by another process."""


def maintenance_workflow_id(storage_location: str) -> str:
    """The one workflow id of a location's maintenance, by hand or on schedule: Temporal
    refuses a second run with that id while one runs, so two never overlap."""
    return f"maintenance-{storage_location}"


class MaintenanceRequest(LifeboatModel):
    """One maintenance run of a storage location's repository."""

    storage_location: DnsLabel
    gc_safety_margin: Duration = DEFAULT_GC_SAFETY_MARGIN
    """Packs younger than this are kept: they may belong to a backup being resumed."""
    check_read_data_percent: Percent = 5.0
    """Share of the packs the check downloads and verifies."""
    lock_retry_interval: PositiveDuration = timedelta(minutes=5)
    """How long to wait before trying again when a backup or restore holds the
    repository's lock."""
    lock_wait_limit: PositiveDuration = timedelta(hours=12)
    """Give up (the run fails) when the repository stayed locked this long; a long
    backup holds its lock for hours."""

    @classmethod
    def for_location(cls, name: str, settings: RepositoryMaintenance) -> MaintenanceRequest:
        return cls(
            storage_location=name,
            gc_safety_margin=settings.gc_safety_margin,
            check_read_data_percent=settings.check_read_data_percent,
        )


class CollectGarbageInput(LifeboatModel):
    storage_location: DnsLabel
    safety_margin: Duration


class GarbageCollection(LifeboatModel):
    packs_deleted: int = 0
    packs_repacked: int = 0
    packs_kept_young: int = 0
    """Unused packs younger than the safety margin, left for the next run."""
    blobs_removed: int = 0
    bytes_freed: int = 0


class CheckRepositoryInput(LifeboatModel):
    storage_location: DnsLabel
    read_data_percent: Percent


class RepositoryCheck(LifeboatModel):
    snapshots_checked: int = 0
    packs_checked: int = 0
    packs_read: int = 0
    blobs_read: int = 0
    unindexed_packs: int = 0
    """Left by an interrupted writer; harmless, a later garbage collection removes them."""
    problems: list[str] = []
    """The first problems found, one line each."""
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class RepositoryStatsInput(LifeboatModel):
    storage_location: DnsLabel


class RepositoryStats(LifeboatModel):
    snapshots: int
    packs: int
    repository_bytes: int
    """Packs, index and snapshot files: what the bucket holds."""
    stored_bytes: int
    """The packs alone."""
    uncompressed_bytes: int
    """Unique data and trees, decompressed."""
    unique_data_bytes: int
    """Unique file contents, decompressed."""
    logical_bytes: int
    """The files of every snapshot added up."""
    dedup_ratio: float
    compression_ratio: float


class MaintenancePhase(StrEnum):
    STARTING = "starting"
    COLLECTING_GARBAGE = "collecting garbage"
    CHECKING = "checking"
    MEASURING = "measuring"
    WAITING_FOR_LOCK = "waiting for the repository lock"
    DONE = "done"
    FAILED = "failed"


class MaintenanceProgress(LifeboatModel):
    """What the `progress` query of a maintenance run returns."""

    storage_location: str = ""
    phase: MaintenancePhase = MaintenancePhase.STARTING
    lock_holder: str | None = None
    """While waiting: who holds the repository's lock."""
    garbage_collection: GarbageCollection | None = None
    check: RepositoryCheck | None = None
    stats: RepositoryStats | None = None
    message: str = ""


class MaintenanceResult(LifeboatModel):
    storage_location: str
    gc_safety_margin: timedelta
    garbage_collection: GarbageCollection
    check: RepositoryCheck
    stats: RepositoryStats


class ScheduledMaintenanceResult(LifeboatModel):
    """What a scheduled start did: ran the maintenance, or skipped it because a run
    (started by hand, or an earlier one still going) held the location's workflow id."""

    workflow_id: str
    result: MaintenanceResult | None = None
    skipped: str | None = None


def human_size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"


def describe_gc(gc: GarbageCollection) -> str:
    return (
        f"freed {human_size(gc.bytes_freed)}: {gc.packs_deleted} packs deleted, "
        f"{gc.packs_repacked} repacked, {gc.packs_kept_young} kept as too young"
    )


def describe_check(check: RepositoryCheck) -> str:
    verdict = "no errors were found" if check.ok else f"{check.problem_count} errors"
    return (
        f"{check.snapshots_checked} snapshots, {check.packs_checked} packs "
        f"({check.packs_read} read): {verdict}"
    )


def describe_stats(stats: RepositoryStats) -> str:
    return (
        f"{human_size(stats.repository_bytes)} in {stats.packs} packs, {stats.snapshots} "
        f"snapshots; {human_size(stats.logical_bytes)} in snapshots, "
        f"{human_size(stats.unique_data_bytes)} unique; dedup ratio {stats.dedup_ratio}x, "
        f"compression ratio {stats.compression_ratio}x"
    )
