"""Every branch of the volume plan, on hand-made inventories (no cluster needed)."""

from __future__ import annotations

from typing import Any

from lifeboat.contracts.kube import PodUse, VolumeInfo
from lifeboat.models import BackupMethod, BackupOptions, PvMode
from lifeboat.planning import plan_volumes


def volume(
    storage_class: str = "fast",
    *,
    snapshots: bool = True,
    pod_phase: str | None = "Running",
    local_node: str | None = None,
    modes: tuple[str, ...] = ("ReadWriteOnce",),
) -> VolumeInfo:
    pods = (
        [PodUse(name="app-0", uid="uid-1", node="node-b", phase=pod_phase)]
        if pod_phase is not None
        else []
    )
    return VolumeInfo(
        namespace="shop",
        pvc=f"data-{storage_class}",
        pv=f"pv-{storage_class}",
        storage_class=storage_class,
        driver="fast.csi.example" if snapshots else "slow.csi.example",
        csi=True,
        plugin_dir="kubernetes.io~csi",
        access_modes=list(modes),
        capacity="1Gi",
        snapshot_class="fast-class" if snapshots else None,
        snapshot_note=(
            "driver fast.csi.example supports snapshots (VolumeSnapshotClass fast-class)"
            if snapshots
            else "driver slow.csi.example has no VolumeSnapshotClass"
        ),
        pods=pods,
        local_node=local_node,
    )


def only(info: VolumeInfo, **options: Any) -> tuple[BackupMethod, str, str | None]:
    plan = plan_volumes([info], BackupOptions(**options))
    assert not plan.unplanned, plan.unplanned
    [decision] = plan.decisions
    assert (decision.namespace, decision.pvc, decision.pv) == ("shop", info.pvc, info.pv)
    return decision.method, decision.reason, decision.node


def test_defaults_snapshot_a_volume_whose_driver_supports_it() -> None:
    method, reason, node = only(volume())
    assert method is BackupMethod.SNAPSHOT
    assert "snapshot_before_backup is on" in reason and "fast-class" in reason
    assert node is None


def test_defaults_read_an_unsnapshottable_volume_where_its_running_pod_mounts_it() -> None:
    method, reason, node = only(volume(snapshots=False))
    assert method is BackupMethod.HOST_VOLUME
    assert "no VolumeSnapshotClass" in reason and "app-0" in reason
    assert node == "node-b"


def test_a_volume_without_a_running_pod_is_read_through_a_mounter_pod() -> None:
    method, reason, node = only(volume(snapshots=False, pod_phase="Pending"))
    assert method is BackupMethod.PVC
    assert "no running pod" in reason
    assert node is None


def test_a_mounter_pod_for_a_local_volume_runs_on_its_node() -> None:
    _, _, node = only(volume(snapshots=False, pod_phase=None, local_node="node-a"))
    assert node == "node-a"


def test_snapshot_before_backup_off_copies_the_live_volume() -> None:
    method, reason, _ = only(volume(), snapshot_before_backup=False)
    assert method is BackupMethod.HOST_VOLUME
    assert "snapshot_before_backup is off" in reason


def test_both_switches_off_skip_the_volume() -> None:
    method, reason, node = only(
        volume(), snapshot_before_backup=False, backup_unsnapshotted_directly=False
    )
    assert method is BackupMethod.SKIP
    assert "backup_unsnapshotted_directly is off" in reason
    assert node is None


def test_unsnapshottable_volume_is_skipped_when_direct_copies_are_off() -> None:
    method, reason, _ = only(volume(snapshots=False), backup_unsnapshotted_directly=False)
    assert method is BackupMethod.SKIP
    assert "no VolumeSnapshotClass" in reason


def test_storage_class_method_overrides_the_switches() -> None:
    method, reason, node = only(volume(), storage_class_methods={"fast": BackupMethod.PVC})
    assert method is BackupMethod.PVC
    assert reason == "storage class 'fast' is set to pvc"
    assert node == "node-b"  # ReadWriteOnce, held by a running pod on node-b


def test_storage_class_skip_wins_over_everything() -> None:
    method, _, _ = only(volume(), storage_class_methods={"fast": BackupMethod.SKIP})
    assert method is BackupMethod.SKIP


def test_a_read_write_many_mounter_pod_goes_where_the_scheduler_puts_it() -> None:
    _, _, node = only(
        volume(modes=("ReadWriteMany",)), storage_class_methods={"fast": BackupMethod.PVC}
    )
    assert node is None


def test_configured_snapshot_without_snapshot_support_fails_to_plan() -> None:
    plan = plan_volumes(
        [volume(snapshots=False), volume("other")],
        BackupOptions(storage_class_methods={"fast": BackupMethod.SNAPSHOT}),
    )
    assert [d.pvc for d in plan.decisions] == ["data-other"]
    [failed] = plan.unplanned
    assert failed.pvc == "data-fast" and failed.method is BackupMethod.SNAPSHOT
    assert "set to snapshot" in failed.reason and "no VolumeSnapshotClass" in failed.reason


def test_configured_host_volume_without_a_running_pod_fails_to_plan() -> None:
    plan = plan_volumes(
        [volume(pod_phase="Succeeded")],
        BackupOptions(storage_class_methods={"fast": BackupMethod.HOST_VOLUME}),
    )
    assert plan.decisions == []
    assert "no running pod" in plan.unplanned[0].reason


def test_snapshot_only_snapshots_what_it_can_and_skips_the_rest() -> None:
    plan = plan_volumes(
        [volume("fast"), volume("slow", snapshots=False)],
        BackupOptions(pv_mode=PvMode.SNAPSHOT_ONLY, snapshot_before_backup=False),
    )
    assert [(d.pvc, d.method) for d in plan.decisions] == [
        ("data-fast", BackupMethod.SNAPSHOT),
        ("data-slow", BackupMethod.SKIP),
    ]
    assert "cannot be snapshotted" in plan.decisions[1].reason
    assert plan.with_method(BackupMethod.SNAPSHOT) == plan.decisions[:1]


def test_snapshot_only_honours_a_storage_class_skip() -> None:
    plan = plan_volumes(
        [volume()],
        BackupOptions(
            pv_mode=PvMode.SNAPSHOT_ONLY, storage_class_methods={"fast": BackupMethod.SKIP}
        ),
    )
    assert plan.decisions[0].method is BackupMethod.SKIP


def test_the_plan_is_deterministic() -> None:
    volumes = [volume("a"), volume("b", snapshots=False), volume("c", pod_phase=None)]
    options = BackupOptions(storage_class_methods={"a": BackupMethod.PVC})
    assert plan_volumes(volumes, options) == plan_volumes(volumes, options)
