"""Exposing volumes per method on the emulated cluster: the right node, the files at the
kubelet path, nothing left behind after release or a sweep."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client

from activities.kube import rest
from activities.kube.discovery import VOLUME_SNAPSHOTS, collection_path, object_path
from activities.kube.exposure import (
    MounterPodNotRunning,
    expose_volume,
    release_volume,
    sweep_run,
)
from activities.kube.snapshots import create_snapshots, preserve_snapshots, wait_snapshots
from devstack.info import ClusterInfo
from devstack.kube.faults import Fault, FaultKind, FaultSet, get_faults, set_faults
from lifeboat.contracts.kube import RUN_LABEL, ExposeVolumeInput, SnapshotTarget
from lifeboat.models import BackupMethod


def run_id() -> str:
    return f"run-{uuid.uuid4().hex[:8]}"


def leftovers(api: client.ApiClient, run: str) -> list[str]:
    """Names of the pods, PVCs and VolumeSnapshots labelled with the run."""
    paths = ("/api/v1/pods", "/api/v1/persistentvolumeclaims", collection_path(VOLUME_SNAPSHOTS))
    return [
        o["metadata"]["name"]
        for path in paths
        for o in rest.list_items(api, path, label_selector=f"{RUN_LABEL}={run}")
    ]


def test_host_volume_reads_the_workload_pod_and_creates_nothing(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    files_at: Callable[[str, str], dict[str, bytes]],
) -> None:
    ns = new_namespace("lbt-host")
    app = workload(ns, "data", "csi-nosnap")

    exposure = expose_volume(
        kube_api,
        ExposeVolumeInput(
            run_id=run_id(), method=BackupMethod.HOST_VOLUME, namespace=ns, pvc="data"
        ),
    )

    assert (exposure.node, exposure.pod_uid, exposure.pv_name) == (app.node, app.pod_uid, app.pv)
    assert exposure.relative_path == f"{app.pod_uid}/volumes/kubernetes.io~csi/{app.pv}/mount"
    assert exposure.created == []
    assert files_at(exposure.node, exposure.relative_path) == app.files


def test_pvc_method_mounts_a_read_write_once_volume_on_the_node_using_it(
    kube_api: client.ApiClient,
    dev: ClusterInfo,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    files_at: Callable[[str, str], dict[str, bytes]],
) -> None:
    ns = new_namespace("lbt-pvc")
    # On the second node, so the scheduler's own choice (the emptier node) cannot pass alone.
    app = workload(ns, "data", "csi-nosnap", node=dev.nodes[1].name)
    run = run_id()

    request = ExposeVolumeInput(run_id=run, method=BackupMethod.PVC, namespace=ns, pvc="data")
    exposure = expose_volume(kube_api, request)
    again = expose_volume(kube_api, request)

    assert again == exposure  # a retry finds the same mounter pod
    assert exposure.node == app.node
    assert exposure.pod_uid != app.pod_uid and exposure.pv_name == app.pv
    assert [r.kind for r in exposure.created] == ["Pod"]
    assert files_at(exposure.node, exposure.relative_path) == app.files
    pod = rest.get(kube_api, f"/api/v1/namespaces/{ns}/pods/{exposure.created[0].name}")
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"] == {
        "claimName": "data",
        "readOnly": True,
    }

    release_volume(kube_api, exposure.created, timeout_seconds=20)
    release_volume(kube_api, exposure.created, timeout_seconds=20)  # twice is fine
    assert leftovers(kube_api, run) == []


def test_pvc_method_on_a_local_volume_runs_on_its_node(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    files_at: Callable[[str, str], dict[str, bytes]],
) -> None:
    ns = new_namespace("lbt-local")
    app = workload(ns, "data", "local")
    rest.delete(kube_api, f"/api/v1/namespaces/{ns}/pods/{app.pod}")  # no pod holds it now
    run = run_id()

    exposure = expose_volume(
        kube_api, ExposeVolumeInput(run_id=run, method=BackupMethod.PVC, namespace=ns, pvc="data")
    )

    assert exposure.node == app.node
    assert "/volumes/kubernetes.io~local-volume/" in exposure.relative_path
    assert files_at(exposure.node, exposure.relative_path) == app.files
    release_volume(kube_api, exposure.created, timeout_seconds=20)
    assert leftovers(kube_api, run) == []


def test_snapshot_method_mounts_a_pvc_made_from_the_snapshot(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    files_at: Callable[[str, str], dict[str, bytes]],
) -> None:
    ns = new_namespace("lbt-fromsnap")
    app = workload(ns, "data", "csi-snap")
    run = run_id()
    refs = create_snapshots(kube_api, run, [SnapshotTarget(namespace=ns, pvc="data")])
    [state] = wait_snapshots(kube_api, refs, timeout_seconds=20)
    assert state.ready

    exposure = expose_volume(
        kube_api,
        ExposeVolumeInput(
            run_id=run,
            method=BackupMethod.SNAPSHOT,
            namespace=ns,
            pvc="data",
            volume_snapshot=refs[0].name,
        ),
    )

    assert exposure.pv_name != app.pv
    assert [r.kind for r in exposure.created] == ["Pod", "PersistentVolumeClaim"]
    assert files_at(exposure.node, exposure.relative_path) == app.files
    claim = rest.get(
        kube_api, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{exposure.created[1].name}"
    )
    assert claim["spec"]["storageClassName"] == "csi-snap"
    assert claim["spec"]["resources"]["requests"]["storage"] == state.restore_size
    release_volume(kube_api, exposure.created, timeout_seconds=20)
    assert leftovers(kube_api, run) == [refs[0].name]  # the snapshot is its own step's


def test_a_mounter_pod_that_never_starts_is_a_clear_error_and_is_removed(
    kube_api: client.ApiClient,
    dev: ClusterInfo,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
) -> None:
    ns = new_namespace("lbt-stuckpod")
    workload(ns, "data", "csi-nosnap")
    run = run_id()
    before = get_faults(dev.api_url)
    never = Fault(kind=FaultKind.POD_NEVER_STARTS, namespace=ns, name="lb-mount-*")
    set_faults(dev.api_url, FaultSet(faults=(*before.faults, never)))
    try:
        with pytest.raises(MounterPodNotRunning, match=r"not running after 1 s.*ContainerCreating"):
            expose_volume(
                kube_api,
                ExposeVolumeInput(
                    run_id=run, method=BackupMethod.PVC, namespace=ns, pvc="data", timeout_seconds=1
                ),
            )
    finally:
        set_faults(dev.api_url, before)
    assert leftovers(kube_api, run) == []


def test_sweep_removes_a_runs_objects_but_keeps_preserved_snapshots(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
) -> None:
    ns = new_namespace("lbt-sweep")
    workload(ns, "kept", "csi-snap")
    workload(ns, "data", "csi-snap")
    run = run_id()
    refs = create_snapshots(
        kube_api, run, [SnapshotTarget(namespace=ns, pvc=p) for p in ("kept", "data")]
    )
    assert all(s.ready for s in wait_snapshots(kube_api, refs, timeout_seconds=20))
    from_snapshot = expose_volume(
        kube_api,
        ExposeVolumeInput(
            run_id=run,
            method=BackupMethod.SNAPSHOT,
            namespace=ns,
            pvc="data",
            volume_snapshot=refs[1].name,
        ),
    )
    preserve_snapshots(kube_api, refs[:1], "rp-sweep", datetime(2031, 1, 1, tzinfo=UTC))
    # What a restore run creates for the user carries the run label, but is not machinery.
    restored = {RUN_LABEL: run, "lifeboat.io/restored-from": "rp-old"}
    rest.request(
        kube_api,
        "POST",
        f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
        body={
            "metadata": {"name": "restored", "labels": restored},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )

    deleted = sweep_run(kube_api, run, timeout_seconds=30)

    assert sorted(r.kind for r in deleted) == ["PersistentVolumeClaim", "Pod", "VolumeSnapshot"]
    assert {r.name for r in deleted} == {r.name for r in from_snapshot.created} | {refs[1].name}
    assert leftovers(kube_api, run) == ["restored", refs[0].name]
    assert rest.find(kube_api, object_path(VOLUME_SNAPSHOTS, ns, refs[0].name)) is not None
    assert sweep_run(kube_api, run, timeout_seconds=30) == []
