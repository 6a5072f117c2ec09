"""ExpireRecoveryPoint against the real stack: by hand and on time, exactly one recovery
point's VolumeSnapshots, repository snapshots and catalog entry go; the others stay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from click.testing import CliRunner
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.expiry import running_restores_query
from devstack.info import StackInfo
from lifeboat.cli.expire import expire
from lifeboat.client import LifeboatClient
from lifeboat.contracts.expiry import ExpireRecoveryPointInput, ExpiryResult
from lifeboat.expiry import EXPIRY_WORKFLOW, expire_now, expiry_workflow_id, start_expiry
from lifeboat.models import BackupRequest, RecoveryPoint, RecoveryPointStatus
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.search_attributes import RECOVERY_POINT

SNAPSHOTS_API = "/apis/snapshot.storage.k8s.io/v1"


async def back_up(lifeboat: LifeboatClient, namespace: str, **spec: Any) -> RecoveryPoint:
    run = await lifeboat.start_backup(
        BackupRequest.model_validate(
            {
                "cluster": "dev",
                "selection": {"include_namespaces": [namespace]},
                "options": {
                    "backup_unsnapshotted_directly": False,
                    "storage_class_methods": {"csi-snap": "snapshot"},
                    "preserve_snapshots": True,
                },
                **spec,
            }
        )
    )
    point = await run.result()
    assert point.status is RecoveryPointStatus.COMPLETED
    return point


def repository_snapshots(restic: Callable[..., str], point: RecoveryPoint) -> list[Any]:
    out = restic("snapshots", "--json", "--tag", f"recovery-point={point.id}")
    found: list[Any] = json.loads(out) or []
    return found


def kept_snapshot(kube: Any, point: RecoveryPoint) -> tuple[str, str]:
    """The paths of the recovery point's one VolumeSnapshot and its content."""
    [volume] = point.volumes
    assert volume.volume_snapshot is not None and volume.volume_snapshot_content is not None
    return (
        f"{SNAPSHOTS_API}/namespaces/{volume.namespace}/volumesnapshots/{volume.volume_snapshot}",
        f"{SNAPSHOTS_API}/volumesnapshotcontents/{volume.volume_snapshot_content}",
    )


async def in_catalog(lifeboat: LifeboatClient, point: RecoveryPoint) -> bool:
    return point.id in {p.id for p in await lifeboat.list_recovery_points()}


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls `check` for up to a minute."""
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true after a minute: {what}")


async def completed_activities(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    done = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    return sum(1 for event in history.events if event.event_type == done)


@pytest.fixture(scope="module")
def app(apps: Any, volume_spec: Any) -> Any:
    return apps.make("expiry", [volume_spec("snap", "csi-snap")])


async def test_expire_by_hand_removes_only_that_recovery_point(
    lifeboat: LifeboatClient,
    app: Any,
    kube: Any,
    stack: StackInfo,
    restic: Callable[..., str],
    repository_digest: Callable[[str], str],
) -> None:
    expired = await back_up(lifeboat, app.namespace, retention="1h")
    kept = await back_up(lifeboat, app.namespace, retention="1h")
    expired_paths = kept_snapshot(kube, expired)
    kept_paths = kept_snapshot(kube, kept)
    assert all(kube.find("dev", path) is not None for path in expired_paths)
    expired_ids = {s["id"] for s in repository_snapshots(restic, expired)}
    kept_ids = {s["id"] for s in repository_snapshots(restic, kept)}
    assert len(expired_ids) >= 3  # volume, resources, catalog

    cli = await asyncio.to_thread(
        CliRunner().invoke,
        expire,
        ["--config", str(stack.home / "config.yaml"), expired.id, "--wait"],
    )
    assert cli.exit_code == 0, cli.output
    assert f"expiry of {expired.id}: {expiry_workflow_id(expired.id)}" in cli.output
    handle = lifeboat.temporal.get_workflow_handle(expiry_workflow_id(expired.id))
    first = ExpiryResult.model_validate(await handle.result())
    assert set(first.repository_snapshots_forgotten) == expired_ids
    [volume] = expired.volumes
    assert first.volume_snapshots_deleted == [f"{volume.namespace}/{volume.volume_snapshot}"]

    assert repository_snapshots(restic, expired) == []
    assert not await in_catalog(lifeboat, expired)
    assert all(kube.find("dev", path) is None for path in expired_paths)

    # Again, by the CLI: it is no longer in the catalog, so there is nothing to expire.
    cli = await asyncio.to_thread(
        CliRunner().invoke,
        expire,
        ["--config", str(stack.home / "config.yaml"), expired.id, "--wait"],
    )
    assert cli.exit_code == 1
    assert f"{expired.id!r} is not in the catalog" in cli.output
    again = await expire_now(lifeboat.temporal, expired)
    second = ExpiryResult.model_validate(await again.result())
    assert second.repository_snapshots_forgotten == []
    assert second.volume_snapshots_deleted == first.volume_snapshots_deleted  # were gone

    assert all(kube.find("dev", path) is not None for path in kept_paths)
    assert await in_catalog(lifeboat, kept)
    assert {s["id"] for s in repository_snapshots(restic, kept)} == kept_ids
    [volume] = kept.volumes
    assert volume.repository_snapshot_id is not None
    assert repository_digest(volume.repository_snapshot_id) == app.volumes["snap"].digest
    assert "no errors were found" in restic("check", "--read-data")
    for path in kept_paths:
        kube.delete("dev", path)


async def test_expiry_on_time_removes_snapshots_first_then_the_data(
    lifeboat: LifeboatClient, app: Any, kube: Any, restic: Callable[..., str], eventually: Any
) -> None:
    point = await back_up(lifeboat, app.namespace, retention="40s", snapshot_retention="15s")
    # The backup started the recovery point's expiry itself; starting it again is a no-op.
    started = await lifeboat.temporal.get_workflow_handle(expiry_workflow_id(point.id)).describe()
    assert started.status == WorkflowExecutionStatus.RUNNING
    handle = await start_expiry(lifeboat.temporal, point)
    assert handle.id == started.id
    assert (await start_expiry(lifeboat.temporal, point)).id == handle.id
    snapshot_path, content_path = kept_snapshot(kube, point)

    eventually(lambda: kube.find("dev", snapshot_path) is None, 60, "VolumeSnapshot expired")
    assert kube.find("dev", content_path) is None
    assert repository_snapshots(restic, point)  # the data outlives the snapshots

    result = ExpiryResult.model_validate(await handle.result())
    assert result.repository_snapshots_forgotten
    assert repository_snapshots(restic, point) == []
    assert not await in_catalog(lifeboat, point)
    assert (await start_expiry(lifeboat.temporal, point)).id == handle.id
    runs = await lifeboat.temporal.count_workflows(f'WorkflowId = "{handle.id}"')
    assert runs.count == 1


async def test_a_running_restore_holds_the_expiry_until_it_ends(
    lifeboat: LifeboatClient, app: Any, kube: Any, restic: Callable[..., str]
) -> None:
    point = await back_up(lifeboat, app.namespace, retention="1h")
    temporal = lifeboat.temporal
    # A restore no worker has picked up yet is as running as one that copies data.
    restore = await temporal.start_workflow(
        "Restore",
        {},
        id=f"held-restore-{point.id}",
        task_queue=f"idle-{point.id}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(RECOVERY_POINT, point.id)]),
    )

    async def restore_visible() -> bool:
        return (await temporal.count_workflows(running_restores_query(point.id))).count == 1

    await until(restore_visible, "the restore is visible")
    expiry = await temporal.start_workflow(
        EXPIRY_WORKFLOW,
        ExpireRecoveryPointInput(
            recovery_point=point,
            storage_location=point.storage_location,
            expire_now=True,
            restore_poll_seconds=1,
        ).model_dump(mode="json"),
        # Beside the expiry the backup started (which waits an hour): one that does not wait.
        id=f"{expiry_workflow_id(point.id)}-now",
        task_queue=CONTROL_QUEUE,
    )

    async def asked_twice() -> bool:
        return await completed_activities(expiry) >= 2

    await until(asked_twice, "the expiry asked twice for running restores")
    snapshot_path, _ = kept_snapshot(kube, point)
    assert kube.find("dev", snapshot_path) is not None
    assert repository_snapshots(restic, point)

    await restore.terminate("test: the restore ends")
    result = ExpiryResult.model_validate(await expiry.result())
    assert result.repository_snapshots_forgotten
    assert kube.find("dev", snapshot_path) is None
    assert repository_snapshots(restic, point) == []
