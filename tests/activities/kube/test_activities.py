"""The Temporal wrappers: they run as activities, heartbeat while waiting, and turn an
answer no retry can change into a non-retryable error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.kube.activities import ClusterActivities
from lifeboat.contracts.kube import (
    CreateSnapshotsInput,
    DeleteSnapshotsInput,
    DiscoverInput,
    ExposeVolumeInput,
    Inventory,
    ReleaseVolumeInput,
    SnapshotTarget,
    SweepRunInput,
    WaitSnapshotsInput,
)
from lifeboat.models import BackupMethod, Cluster, ResourceSelection


def test_a_backup_step_by_step_through_the_activities(
    dev_cluster: Cluster, new_namespace: Callable[..., str], workload: Callable[..., Any]
) -> None:
    ns = new_namespace("lbt-act")
    app = workload(ns, "data", "csi-snap")
    agent = ClusterActivities(dev_cluster)
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)

    inventory = env.run(
        agent.discover, DiscoverInput(selection=ResourceSelection(include_namespaces=[ns]))
    )
    assert isinstance(inventory, Inventory)
    [volume] = inventory.volumes
    assert (volume.pvc, volume.pv, volume.snapshot_class) == ("data", app.pv, "csi-snap-class")

    target = SnapshotTarget(namespace=ns, pvc="data", snapshot_class=volume.snapshot_class)
    created = env.run(
        agent.create_snapshots, CreateSnapshotsInput(run_id="run-act", targets=[target])
    )
    waited = env.run(
        agent.wait_snapshots,
        WaitSnapshotsInput(snapshots=created.snapshots, timeout_seconds=20),
    )
    assert [s.ready for s in waited.states] == [True]
    assert beats and beats[-1] == ({"ready": 1, "total": 1},)

    exposure = env.run(
        agent.expose_volume,
        ExposeVolumeInput(
            run_id="run-act",
            method=BackupMethod.SNAPSHOT,
            namespace=ns,
            pvc="data",
            volume_snapshot=created.snapshots[0].name,
        ),
    )
    assert len(exposure.created) == 2
    env.run(agent.release_volume, ReleaseVolumeInput(created=exposure.created))
    env.run(agent.delete_snapshots, DeleteSnapshotsInput(snapshots=created.snapshots))
    assert env.run(agent.sweep_run, SweepRunInput(run_id="run-act")).deleted == []


def test_an_api_answer_no_retry_changes_is_not_retried(dev_cluster: Cluster) -> None:
    agent = ClusterActivities(dev_cluster)
    missing = SnapshotTarget(namespace="lbt-no-such-namespace", pvc="data")

    with pytest.raises(ApplicationError, match="answered 404") as raised:
        ActivityEnvironment().run(
            agent.create_snapshots, CreateSnapshotsInput(run_id="run-x", targets=[missing])
        )

    assert raised.value.non_retryable
    assert raised.value.type == "KubernetesApiError"
