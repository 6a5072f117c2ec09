"""How each volume of a backup is read: the plan shown before any copy starts.

Pure and deterministic (no I/O), so the backup workflow computes it itself and a replay
computes the same plan. The rules, in order, for one volume:

1. Its storage class is in ``storage_class_methods``: that method. A ``snapshot`` on a
   driver that cannot take one, or a ``host_volume`` with no running pod to read through,
   cannot be carried out: the volume fails to plan, with the reason. It never silently
   falls back to another method: someone chose that one.
2. ``snapshot_only`` mode: ``snapshot`` where the driver supports it, else ``skip``.
3. ``object_storage`` mode: ``snapshot`` where the driver supports it and
   ``snapshot_before_backup`` is on; otherwise, when ``backup_unsnapshotted_directly``
   is on, ``host_volume`` if a running pod mounts it, else ``pvc`` (a mounter pod);
   otherwise ``skip``.
"""

from __future__ import annotations

from lifeboat.contracts.kube import VolumeInfo
from lifeboat.models import BackupMethod, BackupOptions, LifeboatModel, PvMode, VolumeMethodDecision

READ_WRITE_ONCE_MODES = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})


class UnplannedVolume(LifeboatModel):
    """A volume whose configured method cannot be carried out; the backup reports it
    failed."""

    namespace: str
    pvc: str
    pv: str
    storage_class: str | None
    method: BackupMethod
    """The method configured for it."""
    reason: str


class VolumePlan(LifeboatModel):
    decisions: list[VolumeMethodDecision]
    """One per volume that can be carried out (skipped ones included), in inventory order."""
    unplanned: list[UnplannedVolume] = []

    def with_method(self, method: BackupMethod) -> list[VolumeMethodDecision]:
        return [d for d in self.decisions if d.method is method]


def plan_volumes(volumes: list[VolumeInfo], options: BackupOptions) -> VolumePlan:
    decisions: list[VolumeMethodDecision] = []
    unplanned: list[UnplannedVolume] = []
    for volume in volumes:
        method, reason, problem = _method(volume, options)
        if problem is not None:
            unplanned.append(
                UnplannedVolume(
                    namespace=volume.namespace,
                    pvc=volume.pvc,
                    pv=volume.pv,
                    storage_class=volume.storage_class,
                    method=method,
                    reason=problem,
                )
            )
            continue
        decisions.append(
            VolumeMethodDecision(
                namespace=volume.namespace,
                pvc=volume.pvc,
                pv=volume.pv,
                storage_class=volume.storage_class,
                driver=volume.driver,
                node=reading_node(volume, method),
                method=method,
                reason=reason,
            )
        )
    return VolumePlan(decisions=decisions, unplanned=unplanned)


def _method(volume: VolumeInfo, options: BackupOptions) -> tuple[BackupMethod, str, str | None]:
    """(method, reason, why it cannot be carried out or None)."""
    configured = options.storage_class_methods.get(volume.storage_class or "")
    if configured is not None:
        reason = f"storage class {volume.storage_class!r} is set to {configured.value}"
        return configured, reason, _cannot(volume, configured, reason)
    snapshots = volume.snapshot_note
    if options.pv_mode is PvMode.SNAPSHOT_ONLY:
        if volume.supports_snapshots:
            return BackupMethod.SNAPSHOT, f"snapshot_only: {snapshots}", None
        return BackupMethod.SKIP, f"snapshot_only and it cannot be snapshotted: {snapshots}", None
    if volume.supports_snapshots and options.snapshot_before_backup:
        return BackupMethod.SNAPSHOT, f"snapshot_before_backup is on and {snapshots}", None
    why_not = (
        f"not snapshotted: {snapshots}"
        if not volume.supports_snapshots
        else "not snapshotted: snapshot_before_backup is off"
    )
    if not options.backup_unsnapshotted_directly:
        return BackupMethod.SKIP, f"{why_not}, and backup_unsnapshotted_directly is off", None
    pod = volume.running_pod
    if pod is not None:
        return BackupMethod.HOST_VOLUME, f"{why_not}; read where pod {pod.name} mounts it", None
    return BackupMethod.PVC, f"{why_not}; no running pod mounts it, read by a mounter pod", None


def _cannot(volume: VolumeInfo, method: BackupMethod, reason: str) -> str | None:
    if method is BackupMethod.SNAPSHOT and not volume.supports_snapshots:
        return f"{reason}, but {volume.snapshot_note}"
    if method is BackupMethod.HOST_VOLUME and volume.running_pod is None:
        return f"{reason}, but no running pod mounts it"
    return None


def reading_node(volume: VolumeInfo, method: BackupMethod) -> str | None:
    """The node whose agent will read the volume, when the plan already knows it.

    ``host_volume``: the running pod's node. ``pvc``: a node-bound (local) PV's node, or
    for a ReadWriteOnce volume the node of a running pod that holds it. ``snapshot`` and
    other ``pvc`` volumes: wherever the scheduler puts the mounter pod.
    """
    pod = volume.running_pod
    if method is BackupMethod.HOST_VOLUME:
        return pod.node if pod is not None else None
    if method is BackupMethod.PVC:
        if volume.local_node is not None:
            return volume.local_node
        if pod is not None and set(volume.access_modes) <= READ_WRITE_ONCE_MODES:
            return pod.node
    return None
