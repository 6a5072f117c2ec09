"""Policies running for real on the stack's Temporal dev server, with short durations where
time matters: a policy firing every minute, its recovery points expiring on time (snapshots
first), an expiry that falls while the control worker is down, and overlapping runs skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import ScheduleActionExecutionStartWorkflow

from devstack import processes, state
from devstack import stack as devstack
from devstack.info import StackInfo
from lifeboat.client import LifeboatClient
from lifeboat.contracts.expiry import ExpiryResult
from lifeboat.expiry import expiry_workflow_id
from lifeboat.models import BackupPolicy, BackupRequest, RecoveryPoint, RecoveryPointStatus
from lifeboat.policies import PolicyNotFoundError, PolicyService, schedule_id

SNAPSHOTS_API = "/apis/snapshot.storage.k8s.io/v1"


@pytest.fixture(scope="module")
def app(apps: Any, volume_spec: Any) -> Any:
    return apps.make("policy-runs", [volume_spec("snap", "csi-snap")])


@pytest_asyncio.fixture(loop_scope="session")
async def policies(lifeboat: LifeboatClient) -> AsyncIterator[PolicyService]:
    service = PolicyService(lifeboat)
    before = set(await service.names())
    yield service
    for name in set(await service.names()) - before:
        with contextlib.suppress(PolicyNotFoundError):
            await service.delete(name)


def new_policy(app: Any, schedule: dict[str, Any], **spec: Any) -> BackupPolicy:
    return BackupPolicy.model_validate(
        {
            "name": f"t-{uuid.uuid4().hex[:10]}",
            "cluster": "dev",
            "selection": {"include_namespaces": [app.namespace]},
            "options": {"preserve_snapshots": True},
            "schedule": schedule,
            **spec,
        }
    )


async def started_runs(lifeboat: LifeboatClient, name: str) -> list[str]:
    described = await lifeboat.temporal.get_schedule_handle(schedule_id(name)).describe()
    return [
        a.action.workflow_id
        for a in described.info.recent_actions
        if isinstance(a.action, ScheduleActionExecutionStartWorkflow)
    ]


def seconds_until(when: datetime) -> float:
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def in_catalog(lifeboat: LifeboatClient, point: RecoveryPoint) -> bool:
    return point.id in {p.id for p in await lifeboat.list_recovery_points()}


def repository_snapshots(restic: Callable[..., str], point: RecoveryPoint) -> list[Any]:
    found: list[Any] = json.loads(
        restic("snapshots", "--json", "--tag", f"recovery-point={point.id}")
    )
    return found or []


async def test_a_policy_every_minute_makes_points_that_expire_on_time(
    lifeboat: LifeboatClient,
    app: Any,
    kube: Any,
    policies: PolicyService,
    restic: Callable[..., str],
) -> None:
    policy = new_policy(app, {"interval": "1m"}, retention="100s", snapshot_retention="40s")
    await policies.create(policy)
    runs: list[str] = []
    for _ in range(150 * 2):  # two runs: up to a minute to the first, one to the second
        runs = await started_runs(lifeboat, policy.name)
        if len(runs) >= 2:
            break
        await asyncio.sleep(0.5)
    await policies.pause(policy.name, "test done")
    assert len(runs) >= 2, f"the policy started {runs}"
    points = [
        RecoveryPoint.model_validate(await lifeboat.temporal.get_workflow_handle(run_id).result())
        for run_id in runs[:2]
    ]
    assert all(p.status is RecoveryPointStatus.COMPLETED for p in points)
    assert all(p.policy == policy.name for p in points)
    oldest = points[0]
    [volume] = oldest.volumes
    assert volume.volume_snapshot is not None
    snapshot = (
        f"{SNAPSHOTS_API}/namespaces/{volume.namespace}/volumesnapshots/{volume.volume_snapshot}"
    )
    assert oldest.snapshot_expires_at is not None
    assert oldest.expires_at - oldest.snapshot_expires_at == (
        policy.retention - policy.effective_snapshot_retention
    )

    # The snapshot retention (40 s) ends first: the VolumeSnapshot goes, the data stays.
    await asyncio.sleep(seconds_until(oldest.snapshot_expires_at))
    for _ in range(60):
        if kube.find("dev", snapshot) is None:
            break
        await asyncio.sleep(0.5)
    assert kube.find("dev", snapshot) is None
    if datetime.now(UTC) < oldest.expires_at:
        assert repository_snapshots(restic, oldest)
        assert await in_catalog(lifeboat, oldest)

    # Then the retention (100 s): the recovery point and its data go, the newer one stays.
    expiry = lifeboat.temporal.get_workflow_handle(expiry_workflow_id(oldest.id))
    result = ExpiryResult.model_validate(await expiry.result())
    assert result.repository_snapshots_forgotten
    assert repository_snapshots(restic, oldest) == []
    assert not await in_catalog(lifeboat, oldest)
    assert await in_catalog(lifeboat, points[1])
    for point in points[1:]:  # not waited for: their expiry needs no test
        with contextlib.suppress(Exception):
            await lifeboat.temporal.get_workflow_handle(expiry_workflow_id(point.id)).signal(
                "expire_now"
            )


async def test_an_expiry_due_while_the_control_worker_is_down_happens_once_it_is_back(
    lifeboat: LifeboatClient, app: Any, stack: StackInfo, restic: Callable[..., str]
) -> None:
    run = await lifeboat.start_backup(
        BackupRequest.model_validate(
            {
                "cluster": "dev",
                "selection": {"include_namespaces": [app.namespace]},
                "options": {"pv_mode": "snapshot_only"},
                "retention": "15s",
            }
        )
    )
    point = await run.result()
    assert point.status is RecoveryPointStatus.COMPLETED
    control = state.load(stack.home).processes["agent-control"]  # type: ignore[union-attr]
    await asyncio.to_thread(processes.stop, control)  # SIGTERM; gone (and reaped) after
    # Every worker of the expiry is down when its time comes, and a while after.
    await asyncio.sleep(seconds_until(point.expires_at) + 3)
    assert repository_snapshots(restic, point)  # nothing could expire it
    await asyncio.to_thread(devstack.up, stack.home, clusters=("dev", "dev2"))

    handle = lifeboat.temporal.get_workflow_handle(expiry_workflow_id(point.id))
    result = ExpiryResult.model_validate(await handle.result())
    assert result.repository_snapshots_forgotten
    assert repository_snapshots(restic, point) == []
    assert not await in_catalog(lifeboat, point)
    # Exactly once: one run of the expiry, whose forget step completed once.
    runs = await lifeboat.temporal.count_workflows(f'WorkflowId = "{handle.id}"')
    assert runs.count == 1
    history = await handle.fetch_history()
    forgets = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name
        == "expiry.forget_recovery_point"
    ]
    assert len(forgets) == 1


async def test_a_run_due_while_the_last_still_runs_is_skipped(
    lifeboat: LifeboatClient, app: Any, policies: PolicyService
) -> None:
    policy = new_policy(app, {"cron": "0 3 1 1 *"})
    assert policy.schedule.overlap.value == "skip"
    await policies.create(policy)
    await policies.trigger(policy.name)
    runs: list[str] = []
    for _ in range(100):
        if runs := await started_runs(lifeboat, policy.name):
            break
        await asyncio.sleep(0.1)
    [first] = runs
    await policies.trigger(policy.name)  # the first run is still busy with its snapshot
    handle = lifeboat.temporal.get_schedule_handle(schedule_id(policy.name))
    for _ in range(100):
        info = (await handle.describe()).info
        if info.num_actions_skipped_overlap:
            break
        await asyncio.sleep(0.1)
    assert info.num_actions_skipped_overlap == 1
    assert await started_runs(lifeboat, policy.name) == [first]
    point = RecoveryPoint.model_validate(
        await lifeboat.temporal.get_workflow_handle(first).result()
    )
    assert point.status is RecoveryPointStatus.COMPLETED
    await lifeboat.temporal.get_workflow_handle(expiry_workflow_id(point.id)).signal("expire_now")
