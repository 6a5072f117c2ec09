"""Inputs and outputs of the node agent's volume copies (backup and restore of PV data)."""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import Field, field_validator

from lifeboat.models import DnsLabel, K8sName, LifeboatModel, StorageLocation
from lifeboat.models.errors import invalid


class VolumePath(LifeboatModel):
    """Where a volume is mounted on a node, relative to that node agent's kubelet pods dir
    (`<pod-uid>/volumes/<plugin-dir>/<pv>/mount`); the agent joins it with its own root."""

    node: K8sName
    relative_path: str

    @field_validator("relative_path")
    @classmethod
    def _inside(cls, value: str) -> str:
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise invalid(
                "relative_path",
                f"{value!r} must be a relative path inside the kubelet pods dir, without '..'",
            )
        return value


class VolumeRef(LifeboatModel):
    namespace: DnsLabel
    pvc: K8sName
    pv: K8sName


class CopyVolumeInput(LifeboatModel):
    """Copy one mounted volume into the repository as one snapshot."""

    run_id: str
    recovery_point: str
    cluster: DnsLabel
    storage_location: StorageLocation
    volume: VolumeRef
    source: VolumePath
    files: int = Field(ge=1, le=1024)
    memory_limit_mib: int = Field(ge=512, le=8192)
    bandwidth_limit_mib: int | None = Field(default=None, ge=1)
    incremental: bool = True
    """Use the PVC's newest earlier copy as parent, so unchanged files are not read."""


class CopyVolumeResult(LifeboatModel):
    snapshot_id: str
    parent_snapshot_id: str | None
    files: int
    files_unmodified: int
    bytes_read: int
    """Bytes read in the final attempt: less than the volume after a resumed copy, which
    takes the files its checkpoint names as finished (and still stored) without reading them."""
    bytes_new: int
    bytes_uploaded: int
    bytes_total: int = 0
    """Size of the files in the copy."""
    duration_seconds: float
    resumed: bool
    warnings: list[str] = []


class CopyProgress(LifeboatModel):
    """What the node agent heartbeats: progress for the UI and the checkpoint to resume from."""

    files_done: int
    files_total: int | None
    bytes_read: int
    bytes_total: int | None
    bytes_uploaded: int
    current_file: str | None = None
    checkpoint: dict[str, object] | None = None


class RestoreVolumeInput(LifeboatModel):
    """Write one repository snapshot into a mounted (empty) volume."""

    run_id: str
    storage_location: StorageLocation
    snapshot_id: str
    target: VolumePath
    files: int = Field(ge=1, le=1024)
    memory_limit_mib: int = Field(ge=512, le=8192)
    bandwidth_limit_mib: int | None = Field(default=None, ge=1)
    replace: bool = False
    """The volume may hold data (an existing claim): what is not in the snapshot is removed."""


class RestoreVolumeResult(LifeboatModel):
    files: int
    bytes_written: int
    duration_seconds: float
    errors: list[str] = []
    warnings: list[str] = []


def volume_snapshot_path(cluster: str, volume: VolumeRef) -> str:
    """The repository snapshot's path label: stable per PVC, so the next copy finds its parent."""
    return f"/{cluster}/{volume.namespace}/{volume.pvc}"
