"""RepositoryMaintenance against the real stack: after an expiry, gc frees exactly the
expired data and the repository stays restorable and clean for restic; a writer's lock is
waited out; two maintenances of one repository never run at once; every location has a
daily schedule and `lifeboat maintenance status` shows the last run's stats."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import (
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.repository import open_repository
from datamover.backend.base import FileType
from devstack.info import StackInfo
from devstack.kube.seed import volume_digest
from lifeboat.cli.maintenance import maintenance
from lifeboat.client import LifeboatClient
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.maintenance import (
    MAINTENANCE_WORKFLOW,
    MaintenancePhase,
    MaintenanceProgress,
    MaintenanceRequest,
    MaintenanceResult,
    ScheduledMaintenanceResult,
    maintenance_workflow_id,
)
from lifeboat.expiry import expire_now
from lifeboat.maintenance import (
    MaintenanceRunningError,
    MaintenanceService,
    schedule_id,
    to_schedule,
)
from lifeboat.models import BackupRequest, RecoveryPoint, RecoveryPointStatus
from lifeboat.queues import CONTROL_QUEUE

LOCATION = "default"
MIB = 1024 * 1024


def write_random(root: Path, megabytes: int = 3) -> None:
    """Incompressible files that share nothing with any other call's."""
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for i in range(megabytes):
        (root / f"part-{i}.bin").write_bytes(os.urandom(MIB))


@pytest.fixture(scope="module")
def app(apps: Any, volume_spec: Any) -> Any:
    return apps.make("maint", [volume_spec("data", "csi-nosnap", fill=write_random)])


@pytest.fixture
def service(lifeboat: LifeboatClient) -> MaintenanceService:
    return MaintenanceService(lifeboat)


@pytest.fixture(scope="module")
def bucket_bytes(stack: StackInfo, config: LifeboatConfig) -> Callable[[str], int]:
    """Bytes under the repository's prefix (or one of its directories), from S3 itself."""
    s3: Any = boto3.client(  # type: ignore[call-overload]
        "s3",
        endpoint_url=stack.s3.endpoint,
        aws_access_key_id=stack.s3.access_key,
        aws_secret_access_key=stack.s3.secret_key,
        region_name=stack.s3.region,
    )
    location = config.storage_locations[LOCATION]

    def measure(directory: str = "") -> int:
        prefix = f"{location.prefix}/{directory}"
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix)
        return sum(obj["Size"] for page in pages for obj in page.get("Contents", []))

    return measure


async def back_up(lifeboat: LifeboatClient, namespace: str) -> RecoveryPoint:
    run = await lifeboat.start_backup(
        BackupRequest.model_validate(
            {"cluster": "dev", "selection": {"include_namespaces": [namespace]}, "retention": "1h"}
        )
    )
    point = await run.result()
    assert point.status is RecoveryPointStatus.COMPLETED
    return point


async def current_details(lifeboat: LifeboatClient, workflow_id: str) -> str:
    """What the Temporal UI shows as the run's current details."""
    handle = lifeboat.temporal.get_workflow_handle(workflow_id)
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert isinstance(metadata, WorkflowMetadata)
    return metadata.current_details


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The first truthy result of `check`, polled for up to a minute."""
    for _ in range(300):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"not true after a minute: {what}")


def invoke(stack: StackInfo, *args: str) -> Any:
    return CliRunner().invoke(
        maintenance, [*args[:1], "--config", str(stack.home / "config.yaml"), *args[1:]]
    )


async def test_gc_after_an_expiry_frees_its_data_and_the_rest_stays_restorable(
    lifeboat: LifeboatClient,
    service: MaintenanceService,
    app: Any,
    restic: Callable[..., str],
    repository_digest: Callable[[str], str],
    bucket_bytes: Callable[[str], int],
    replay: Callable[[str, Any], Awaitable[None]],
) -> None:
    volume = app.volumes["data"]
    expired = await back_up(lifeboat, app.namespace)
    write_random(volume.disk)
    kept = await back_up(lifeboat, app.namespace)
    kept_digest = volume_digest(volume.disk)
    await (await expire_now(lifeboat.temporal, expired)).result()
    before = bucket_bytes("")

    handle = await service.start(
        MaintenanceRequest(
            storage_location=LOCATION,
            gc_safety_margin=timedelta(0),  # nothing else writes during this test
            check_read_data_percent=100,
        )
    )
    assert handle.id == maintenance_workflow_id(LOCATION)
    result = MaintenanceResult.model_validate(await handle.result())

    after = bucket_bytes("")
    gc = result.garbage_collection
    assert before - after >= 3 * MIB * 0.95  # the expired recovery point's volume data
    assert gc.bytes_freed >= 3 * MIB * 0.95 and gc.packs_deleted + gc.packs_repacked > 0
    assert result.check.ok and result.check.packs_read == result.check.packs_checked > 0

    stats = result.stats
    assert stats.stored_bytes == bucket_bytes("data/")
    assert stats.repository_bytes == sum(map(bucket_bytes, ("data/", "index/", "snapshots/")))
    assert stats.snapshots == len(json.loads(restic("snapshots", "--json")))
    assert stats.logical_bytes >= 3 * MIB and stats.dedup_ratio >= 1.0

    [kept_volume] = kept.volumes
    assert kept_volume.repository_snapshot_id is not None
    assert repository_digest(kept_volume.repository_snapshot_id) == kept_digest
    assert "no errors were found" in restic("check", "--read-data")

    details = await current_details(lifeboat, handle.id)
    assert "**Phase:** done" in details
    assert f"{stats.snapshots} snapshots" in details and "dedup ratio" in details
    assert "no errors were found" in details
    await replay("maintenance", await handle.fetch_history())


async def test_maintenance_waits_out_a_writers_lock_and_runs_once_at_a_time(
    lifeboat: LifeboatClient,
    service: MaintenanceService,
    config: LifeboatConfig,
    stack: StackInfo,
    replay: Callable[[str, Any], Awaitable[None]],
) -> None:
    temporal = lifeboat.temporal
    with (
        open_repository(config.storage_locations[LOCATION]) as repo,
        repo.lock(exclusive=False) as writer,  # what a backup holds while it writes
    ):
        handle = await service.start(
            MaintenanceRequest(storage_location=LOCATION, lock_retry_interval=timedelta(seconds=1))
        )

        async def waiting() -> MaintenanceProgress | None:
            try:
                progress = await handle.query("progress", result_type=MaintenanceProgress)
            except WorkflowQueryFailedError:  # its first workflow task has not run yet
                return None
            waits = progress.phase is MaintenancePhase.WAITING_FOR_LOCK
            return progress if waits and progress.lock_holder else None

        progress = await until(waiting, "maintenance waits for the lock")
        assert f"shared lock of PID {os.getpid()}" in (progress.lock_holder or "")
        details = await current_details(lifeboat, handle.id)
        assert "**Phase:** waiting for the repository lock" in details
        assert f"PID {os.getpid()}" in details
        status = await asyncio.to_thread(invoke, stack, "status", LOCATION)
        assert "phase: waiting for the repository lock" in status.output
        assert f"waiting for: {progress.lock_holder}" in status.output

        with pytest.raises(MaintenanceRunningError, match="is already running"):
            await service.start(MaintenanceRequest(storage_location=LOCATION))
        cli = await asyncio.to_thread(invoke, stack, "run", LOCATION)
        assert cli.exit_code == 1
        assert f"maintenance of storage location '{LOCATION}' is already running" in cli.output

        # The schedule's run skips: the one by hand holds the location's workflow id.
        schedule = temporal.get_schedule_handle(schedule_id(LOCATION))
        earlier = {a.action.workflow_id for a in (await schedule.describe()).info.recent_actions}
        await schedule.trigger()

        async def triggered() -> str | None:
            for recent in (await schedule.describe()).info.recent_actions:
                action = recent.action
                assert isinstance(action, ScheduleActionExecutionStartWorkflow)
                if action.workflow_id not in earlier:
                    return action.workflow_id
            return None

        scheduled_id = await until(triggered, "the schedule started a run")
        scheduled_run = temporal.get_workflow_handle(scheduled_id)
        scheduled = ScheduledMaintenanceResult.model_validate(await scheduled_run.result())
        assert scheduled.result is None
        assert scheduled.skipped is not None and "is running" in scheduled.skipped
        await replay("scheduled-maintenance-skipped", await scheduled_run.fetch_history())

        assert (await handle.query("progress", result_type=MaintenanceProgress)).phase is (
            MaintenancePhase.WAITING_FOR_LOCK
        )
        # The writer's lock was never touched.
        assert writer.name in {info.name for info in repo.backend.list(FileType.LOCKS)}

    result = MaintenanceResult.model_validate(await handle.result())
    assert result.check.ok
    history = await handle.fetch_history()
    failed_attempts = [
        e for e in history.events if e.HasField("activity_task_failed_event_attributes")
    ]
    assert failed_attempts  # each a try that found the lock taken
    assert all(
        "is already locked" in e.activity_task_failed_event_attributes.failure.message
        for e in failed_attempts
    )


async def test_bad_requests_fail_the_run_naming_the_fields(lifeboat: LifeboatClient) -> None:
    handle = await lifeboat.temporal.start_workflow(
        MAINTENANCE_WORKFLOW,
        {"storage_location": LOCATION, "check_read_data_percent": 150, "gc_safety_margin": "1"},
        id=f"maintenance-bad-{uuid.uuid4().hex[:6]}",
        task_queue=CONTROL_QUEUE,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    message = str(failed.value.cause)
    assert "check_read_data_percent" in message and "gc_safety_margin" in message


async def test_every_location_has_a_daily_schedule_and_status_shows_the_last_run(
    lifeboat: LifeboatClient, stack: StackInfo
) -> None:
    # The control worker applied the schedule when it started.
    described = await lifeboat.temporal.get_schedule_handle(schedule_id(LOCATION)).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "ScheduledRepositoryMaintenance"
    first, second = described.info.next_action_times[:2]
    assert (first.hour, first.minute, second - first) == (0, 0, timedelta(days=1))

    run = await asyncio.to_thread(invoke, stack, "run", LOCATION, "--wait")
    assert run.exit_code == 0, run.output
    assert f"started {maintenance_workflow_id(LOCATION)}" in run.output
    assert "check:" in run.output and "no errors were found" in run.output

    status = await asyncio.to_thread(invoke, stack, "status", LOCATION)
    assert status.exit_code == 0, status.output
    assert "schedule: cron @daily (UTC)" in status.output
    assert f"last run: {maintenance_workflow_id(LOCATION)} completed" in status.output
    assert "dedup ratio" in status.output
    as_json = await asyncio.to_thread(invoke, stack, "status", LOCATION, "--json")
    last = json.loads(as_json.output)["last_run"]
    assert last["status"] == "completed" and last["result"]["stats"]["snapshots"] > 0

    unknown = await asyncio.to_thread(invoke, stack, "status", "nowhere")
    assert unknown.exit_code == 1
    assert "unknown storage location 'nowhere'; configured: default" in unknown.output


async def test_applying_the_schedules_deletes_those_of_locations_no_longer_configured(
    lifeboat: LifeboatClient, config: LifeboatConfig, stack: StackInfo
) -> None:
    temporal = lifeboat.temporal
    gone = config.storage_locations[LOCATION].model_copy(update={"name": "gone"})
    await temporal.create_schedule(schedule_id("gone"), to_schedule(gone))

    async def listed() -> bool:
        return schedule_id("gone") in {e.id async for e in await temporal.list_schedules()}

    await until(listed, "the schedule of the removed location is visible")
    applied = await asyncio.to_thread(invoke, stack, "schedule")
    assert applied.exit_code == 0, applied.output
    assert f"{LOCATION}: cron @daily (UTC)" in applied.output.splitlines()
    with pytest.raises(RPCError) as missing:
        await temporal.get_schedule_handle(schedule_id("gone")).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    await temporal.get_schedule_handle(schedule_id(LOCATION)).describe()  # still there
