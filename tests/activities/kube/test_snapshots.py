"""VolumeSnapshots of a run on the emulated cluster: create, wait, fail, time out, delete,
preserve."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from activities.kube import rest
from activities.kube.discovery import VOLUME_SNAPSHOT_CONTENTS, VOLUME_SNAPSHOTS, object_path
from activities.kube.snapshots import (
    create_snapshots,
    delete_snapshots,
    preserve_snapshots,
    wait_snapshots,
)
from devstack.info import ClusterInfo
from devstack.kube.faults import Fault, FaultKind, FaultSet, get_faults, set_faults
from lifeboat.contracts.kube import (
    EXPIRES_AT_ANNOTATION,
    PRESERVED_LABEL,
    RECOVERY_POINT_LABEL,
    RUN_LABEL,
    SnapshotTarget,
)


@pytest.fixture
def fault(dev: ClusterInfo) -> Iterator[Callable[..., None]]:
    """Switch on a fault for the test's own namespace; the cluster's faults come back after."""
    before = get_faults(dev.api_url)

    def switch_on(kind: FaultKind, namespace: str) -> None:
        set_faults(
            dev.api_url,
            FaultSet(faults=(*before.faults, Fault(kind=kind, namespace=namespace))),
        )

    yield switch_on
    set_faults(dev.api_url, before)


def snapshot(api: client.ApiClient, namespace: str, name: str) -> rest.Obj | None:
    return rest.find(api, object_path(VOLUME_SNAPSHOTS, namespace, name))


def test_snapshots_of_several_pvcs_are_created_together_and_become_ready(
    kube_api: client.ApiClient, new_namespace: Callable[..., str], workload: Callable[..., Any]
) -> None:
    ns = new_namespace("lbt-snap")
    for pvc in ("db", "cache"):
        workload(ns, pvc, "csi-snap")
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    targets = [SnapshotTarget(namespace=ns, pvc=p) for p in ("db", "cache")]

    refs = create_snapshots(kube_api, run_id, targets, recovery_point="rp-1")
    again = create_snapshots(kube_api, run_id, targets, recovery_point="rp-1")
    states = wait_snapshots(kube_api, refs, timeout_seconds=20)

    assert again == refs  # a retried step finds the same snapshots
    assert len({r.name for r in refs}) == 2
    assert [s.snapshot.pvc for s in states] == ["db", "cache"]
    assert all(s.ready and s.error is None and not s.timed_out for s in states)
    assert all(s.content and s.restore_size == "1Gi" for s in states)
    vs = snapshot(kube_api, ns, refs[0].name)
    assert vs is not None
    assert vs["metadata"]["labels"][RUN_LABEL] == run_id
    assert vs["metadata"]["labels"][RECOVERY_POINT_LABEL] == "rp-1"

    delete_snapshots(kube_api, refs, timeout_seconds=20)
    delete_snapshots(kube_api, refs, timeout_seconds=20)  # twice is fine

    assert all(snapshot(kube_api, ns, r.name) is None for r in refs)
    for state in states:
        assert state.content is not None
        assert (
            rest.find(kube_api, object_path(VOLUME_SNAPSHOT_CONTENTS, None, state.content)) is None
        )


def test_a_driver_without_snapshots_fails_its_pvc_only(
    kube_api: client.ApiClient, new_namespace: Callable[..., str], workload: Callable[..., Any]
) -> None:
    ns = new_namespace("lbt-nosnap")
    workload(ns, "good", "csi-snap")
    workload(ns, "bad", "csi-nosnap")
    refs = create_snapshots(
        kube_api,
        "run-nosnap",
        [SnapshotTarget(namespace=ns, pvc="good"), SnapshotTarget(namespace=ns, pvc="bad")],
    )

    good, bad = wait_snapshots(kube_api, refs, timeout_seconds=20)

    assert good.ready and good.error is None
    assert not bad.ready and not bad.timed_out
    assert bad.error is not None and "snapshot class" in bad.error
    delete_snapshots(kube_api, refs, timeout_seconds=20)


def test_a_snapshot_that_never_becomes_ready_times_out(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    fault: Callable[..., None],
) -> None:
    ns = new_namespace("lbt-stuck")
    workload(ns, "data", "csi-snap")
    fault(FaultKind.SNAPSHOT_NEVER_READY, ns)
    refs = create_snapshots(kube_api, "run-stuck", [SnapshotTarget(namespace=ns, pvc="data")])

    [state] = wait_snapshots(kube_api, refs, timeout_seconds=2)

    assert state.timed_out and not state.ready
    assert state.error is not None and "not ready after 2 s" in state.error
    delete_snapshots(kube_api, refs, timeout_seconds=20)
    assert snapshot(kube_api, ns, refs[0].name) is None


def test_preserved_snapshots_carry_their_expiry_and_recovery_point(
    kube_api: client.ApiClient, new_namespace: Callable[..., str], workload: Callable[..., Any]
) -> None:
    ns = new_namespace("lbt-keep")
    workload(ns, "data", "csi-snap")
    refs = create_snapshots(kube_api, "run-keep", [SnapshotTarget(namespace=ns, pvc="data")])
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(days=1)

    preserve_snapshots(kube_api, refs, "rp-keep", expires)

    vs = snapshot(kube_api, ns, refs[0].name)
    assert vs is not None
    assert vs["metadata"]["labels"][PRESERVED_LABEL] == "true"
    assert vs["metadata"]["labels"][RECOVERY_POINT_LABEL] == "rp-keep"
    assert vs["metadata"]["annotations"][EXPIRES_AT_ANNOTATION] == "2030-01-03T03:04:05+00:00"
    delete_snapshots(kube_api, refs, timeout_seconds=20)
