"""How a backup treats persistent volumes, and how hard the data mover may work."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Self

from pydantic import model_validator

from lifeboat.models.base import LifeboatModel
from lifeboat.models.common import (
    BandwidthMiBPerSecond,
    ConcurrentFiles,
    ConcurrentPvs,
    K8sName,
    MemoryLimitMiB,
)
from lifeboat.models.duration import PositiveDuration
from lifeboat.models.errors import FieldErrors, one_of


class PvMode(StrEnum):
    SNAPSHOT_ONLY = "snapshot_only"
    """Volumes are only snapshotted; the snapshots are the backup of the data."""
    OBJECT_STORAGE = "object_storage"
    """Volume data is copied to the repository ("Backup to object storage")."""


class BackupMethod(StrEnum):
    """How one volume is read; the methods differ in which pod mounts it."""

    SNAPSHOT = "snapshot"
    """From a VolumeSnapshot, through a short-lived mounter pod on a PVC made from it."""
    PVC = "pvc"
    """From the live PVC, through a short-lived mounter pod."""
    HOST_VOLUME = "host_volume"
    """From the live volume where the workload pod already mounts it; nothing is created."""
    SKIP = "skip"
    """Not copied."""


SNAPSHOT_ONLY_METHODS = (BackupMethod.SNAPSHOT, BackupMethod.SKIP)

DEFAULT_BACKUP_CONCURRENT_FILES = 24
DEFAULT_RESTORE_CONCURRENT_FILES = 16
DEFAULT_CONCURRENT_PVS = 4
DEFAULT_MEMORY_LIMIT_MIB = 1024


class DataMoverLimits(LifeboatModel):
    """Concurrency and memory of the data movers of one run.

    ``total_concurrent_files`` is shared by the volumes copied at once, so each gets
    ``files_per_pv`` = total // ``concurrent_pvs``. Four volumes at once by default: per
    volume a run spends tens of seconds on snapshots, PVC provisioning and mounter pods that
    move no data, and volumes usually sit on different nodes, so several at once hide that
    latency and spread the load over node agents, while 24 // 4 = 6 files per volume (plus
    the data mover's parallel chunks within a large file) still keep one copy busy.
    """

    total_concurrent_files: ConcurrentFiles = DEFAULT_BACKUP_CONCURRENT_FILES
    """Files copied at once across all volumes of the run."""

    concurrent_pvs: ConcurrentPvs = DEFAULT_CONCURRENT_PVS
    """Volumes copied at once; at most ``total_concurrent_files``."""

    datamover_memory_limit_mib: MemoryLimitMiB = DEFAULT_MEMORY_LIMIT_MIB
    """Memory budget of each data mover, 512 to 8192 MiB; it stays within it."""

    datamover_bandwidth_limit_mib: BandwidthMiBPerSecond | None = None
    """Upload (backup) or download (restore) rate of each data mover in MiB/s, so a copy
    leaves the node's network to its workloads; unlimited when not given."""

    @model_validator(mode="after")
    def _pvs_within_files(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.concurrent_pvs > self.total_concurrent_files:
            errors.add(
                "concurrent_pvs",
                "concurrent_pvs",
                f"{self.concurrent_pvs} is more than total_concurrent_files "
                f"({self.total_concurrent_files}); allowed 1 to {self.total_concurrent_files}, "
                "as every volume copied needs at least one file slot",
                self.concurrent_pvs,
            )
        errors.raise_if_any()
        return self

    @property
    def files_per_pv(self) -> int:
        return self.total_concurrent_files // self.concurrent_pvs


class BackupOptions(DataMoverLimits):
    """How a backup reads persistent volumes; retention lives beside these options in the
    policy or request.

    With ``object_storage``, a volume's method is ``storage_class_methods[class]`` when its
    storage class is listed; otherwise ``snapshot`` if its driver supports snapshots and
    ``snapshot_before_backup`` is on; otherwise, if ``backup_unsnapshotted_directly`` is
    on, ``host_volume`` when a running pod mounts it, else ``pvc``; otherwise ``skip``.
    With ``snapshot_only`` the two switches do not apply.
    """

    pv_mode: PvMode = PvMode.OBJECT_STORAGE
    """``object_storage`` copies volume data to the repository; ``snapshot_only`` only
    snapshots volumes."""

    snapshot_before_backup: bool = True
    """Snapshot volumes whose driver supports it and copy from the snapshot."""

    backup_unsnapshotted_directly: bool = True
    """Copy every volume not snapshotted from the live volume."""

    storage_class_methods: dict[K8sName, BackupMethod] = {}
    """Per storage class, the method for its volumes, overriding the two switches;
    in ``snapshot_only`` mode only ``snapshot`` or ``skip``."""

    preserve_snapshots: bool = False
    """Keep the VolumeSnapshots after the copy, until the snapshot retention ends."""

    snapshot_ready_timeout: PositiveDuration = timedelta(minutes=10)
    """How long a VolumeSnapshot may take to become ready before its volume fails."""

    @model_validator(mode="after")
    def _methods_fit_mode(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.pv_mode is PvMode.SNAPSHOT_ONLY:
            for storage_class, method in self.storage_class_methods.items():
                if method not in SNAPSHOT_ONLY_METHODS:
                    errors.add(
                        ("storage_class_methods", storage_class),
                        "method_for_mode",
                        f"{method.value!r} is not allowed with pv_mode 'snapshot_only'; "
                        f"allowed: {one_of(SNAPSHOT_ONLY_METHODS)}",
                        method.value,
                    )
        errors.raise_if_any()
        return self

    @property
    def keeps_snapshots(self) -> bool:
        """Snapshots outlive the run: preserved, or they are the backup (``snapshot_only``)."""
        return self.preserve_snapshots or self.pv_mode is PvMode.SNAPSHOT_ONLY
