"""Inputs and outputs of the cluster agent's backup-side Kubernetes activities.

Discovery and inventory, VolumeSnapshots, exposing a volume to a node agent, sweeping a
run's leftovers and exporting manifests. Every object Lifeboat creates to do its work
carries the labels of `lifeboat_labels`, so a cancelled run's leftovers are found by label
alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AwareDatetime, Field

from lifeboat.contracts.volumes import VolumePath
from lifeboat.models import (
    BackupMethod,
    DnsLabel,
    K8sName,
    LifeboatModel,
    RecoveryPointId,
    ResourceSelection,
)
from lifeboat.models.common import AbsolutePath, Count
from lifeboat.models.labels import LabelValue

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "lifeboat"
RUN_LABEL = "lifeboat.io/run"
REPLICATED_BY_LABEL = "lifeboat.io/replicated-by"
"""On the objects a replication restored: the only ones its runs may remove."""
RECOVERY_POINT_LABEL = "lifeboat.io/recovery-point"
PRESERVED_LABEL = "lifeboat.io/preserved"
"""On a VolumeSnapshot kept after its run; a sweep of the run leaves it alone."""
EXPIRES_AT_ANNOTATION = "lifeboat.io/expires-at"
PVC_ANNOTATION = "lifeboat.io/pvc"
"""On a VolumeSnapshot or mounter pod: the PVC it serves, for people reading the cluster."""

RunId = LabelValue
"""The run's id, used as a label value (at most 63 characters)."""

Seconds = Annotated[float, Field(gt=0, le=24 * 3600)]


def lifeboat_labels(run_id: str, recovery_point: str | None = None) -> dict[str, str]:
    """The labels on the machinery Lifeboat creates for a run (mounter pods, temporary
    PVCs, VolumeSnapshots).

    Restored objects carry the run label too, but not ``managed-by``: they belong to the
    user, so a sweep of the run leaves them alone and the next backup saves them.
    """
    labels = {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id}
    if recovery_point is not None:
        labels[RECOVERY_POINT_LABEL] = recovery_point
    return labels


def machinery_selector(run_id: str) -> str:
    """The label selector of a run's machinery, preserved snapshots excepted."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{RUN_LABEL}={run_id},{PRESERVED_LABEL}!=true"


def is_machinery(labels: Mapping[str, str]) -> bool:
    """Whether an object is some run's machinery (never backed up)."""
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and RUN_LABEL in labels


class ResourceType(LifeboatModel):
    """A served resource type at its group's preferred version."""

    group: str
    """The API group; '' for the core group."""
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: list[str]

    @property
    def name(self) -> str:
        """``deployments.apps``, ``pods``: the form `ResourceSelection` takes."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


class ObjectRef(LifeboatModel):
    """Enough to find (and delete) one object without discovery."""

    api_version: str
    kind: str
    plural: str
    namespace: DnsLabel | None = None
    name: K8sName

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


class PodUse(LifeboatModel):
    """A pod that refers to a PVC."""

    name: K8sName
    uid: str
    node: K8sName | None
    """None while the pod is not scheduled."""
    phase: str

    @property
    def running(self) -> bool:
        return self.phase == "Running" and self.node is not None


class VolumeInfo(LifeboatModel):
    """A bound PVC in scope with what planning and exposure need to know about its PV."""

    namespace: DnsLabel
    pvc: K8sName
    pv: K8sName
    storage_class: K8sName | None
    driver: str | None
    """The CSI driver of a CSI PV, else the storage class's provisioner."""
    csi: bool
    plugin_dir: str | None
    """The kubelet's volume plugin dir (``kubernetes.io~csi``...); None if unknown."""
    access_modes: list[str]
    capacity: str
    """The PV's capacity as a quantity, e.g. ``1Gi``."""
    snapshot_class: K8sName | None
    """The VolumeSnapshotClass a snapshot uses; None when the driver has none to use."""
    snapshot_note: str
    """Why the volume can or cannot be snapshotted, in words for the plan's reasons."""
    pods: list[PodUse] = []
    local_node: K8sName | None = None
    """The node a node-bound (local) PV lives on."""

    @property
    def supports_snapshots(self) -> bool:
        return self.snapshot_class is not None

    @property
    def running_pod(self) -> PodUse | None:
        """The first running pod mounting the volume, by name, so plans are stable."""
        running = sorted((p for p in self.pods if p.running), key=lambda p: p.name)
        return running[0] if running else None


class DiscoverInput(LifeboatModel):
    selection: ResourceSelection = ResourceSelection()


class Inventory(LifeboatModel):
    """What a backup covers: resource types, namespaces, object counts and volumes."""

    resource_types: list[ResourceType]
    """Every type that can be backed up (listable, not excluded by default)."""
    namespaces: list[DnsLabel]
    """The existing namespaces the selection includes."""
    object_counts: dict[str, Count]
    """Selected objects per resource type name, cluster-scoped ones included."""
    volumes: list[VolumeInfo]
    warnings: list[str] = []


class SnapshotTarget(LifeboatModel):
    namespace: DnsLabel
    pvc: K8sName
    snapshot_class: K8sName | None = None
    """None lets the cluster's default class for the driver apply."""


class CreateSnapshotsInput(LifeboatModel):
    run_id: RunId
    recovery_point: RecoveryPointId | None = None
    targets: list[SnapshotTarget]


class SnapshotRef(LifeboatModel):
    namespace: DnsLabel
    pvc: K8sName
    name: K8sName
    """The VolumeSnapshot's name, derived from the run and the PVC."""


class CreateSnapshotsOutput(LifeboatModel):
    snapshots: list[SnapshotRef]


class WaitSnapshotsInput(LifeboatModel):
    snapshots: list[SnapshotRef]
    timeout_seconds: Seconds = 600.0


class SnapshotState(LifeboatModel):
    """How one snapshot ended up: ready, failed with the controller's error, or timed out."""

    snapshot: SnapshotRef
    ready: bool
    content: K8sName | None = None
    """The bound VolumeSnapshotContent."""
    restore_size: str | None = None
    error: str | None = None
    timed_out: bool = False


class WaitSnapshotsOutput(LifeboatModel):
    states: list[SnapshotState]


class DeleteSnapshotsInput(LifeboatModel):
    snapshots: list[SnapshotRef]
    timeout_seconds: Seconds = 300.0


class PreserveSnapshotsInput(LifeboatModel):
    snapshots: list[SnapshotRef]
    recovery_point: RecoveryPointId
    expires_at: AwareDatetime


class ExposeVolumeInput(LifeboatModel):
    """Make one volume readable by a node agent, as its planned method says."""

    run_id: RunId
    recovery_point: RecoveryPointId | None = None
    method: BackupMethod
    namespace: DnsLabel
    pvc: K8sName
    volume_snapshot: K8sName | None = None
    """Required for ``snapshot``: the ready VolumeSnapshot of the PVC."""
    timeout_seconds: Seconds = 300.0


class VolumeExposure(LifeboatModel):
    """Where a node agent reads the volume, and what to delete afterwards."""

    node: K8sName
    pod_uid: str
    pv_name: K8sName
    relative_path: str
    """``<pod-uid>/volumes/<plugin-dir>/<pv>/mount``, relative to the kubelet pods dir."""
    created: list[ObjectRef] = []
    """Mounter pod and temporary PVC, in deletion order; empty for ``host_volume``."""

    @property
    def volume_path(self) -> VolumePath:
        return VolumePath(node=self.node, relative_path=self.relative_path)


class ReleaseVolumeInput(LifeboatModel):
    created: list[ObjectRef]
    timeout_seconds: Seconds = 120.0


class SweepRunInput(LifeboatModel):
    run_id: RunId
    timeout_seconds: Seconds = 300.0


class SweepRunOutput(LifeboatModel):
    deleted: list[ObjectRef]


class ExportResourcesInput(LifeboatModel):
    selection: ResourceSelection = ResourceSelection()
    directory: AbsolutePath
    """A local directory on the cluster agent, created if missing; a tree an earlier
    attempt wrote there is replaced."""


class ExportResourcesOutput(LifeboatModel):
    directory: AbsolutePath
    counts: dict[str, Count]
    """Objects written per resource type name."""
    total: Count
