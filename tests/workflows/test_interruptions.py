"""A backup survives its node agent being killed mid-copy, and a cancelled one leaves
nothing behind. Both need a copy that takes a few seconds: a volume of random data."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus

from activities.repository import open_repository
from devstack import processes, state
from devstack import stack as devstack
from devstack.info import StackInfo
from lifeboat.client import LifeboatClient, Run, RunFailedError
from lifeboat.contracts.volumes import CopyProgress
from lifeboat.models import BackupMethod, BackupRequest, RecoveryPointStatus, VolumeBackupStatus

BLOCK = 4 << 20
FILES = 8
BLOCKS_PER_FILE = 10  # 8 files of 40 MiB: 320 MiB of incompressible data


def random_files(root: Path) -> None:
    """Incompressible data that never deduplicates, so every byte must be uploaded."""
    for index in range(FILES):
        with (root / f"blob-{index}.bin").open("wb") as out:
            for _ in range(BLOCKS_PER_FILE):
                out.write(os.urandom(BLOCK))


@pytest_asyncio.fixture
async def left_running(lifeboat: LifeboatClient) -> AsyncIterator[list[Run[Any, Any]]]:
    """Runs a test started; any still running after it (it failed) is terminated, so its
    copy stops at its next heartbeat and lets go of the repository's lock, which later
    tests' gc and maintenance would otherwise wait for."""
    runs: list[Run[Any, Any]] = []
    yield runs
    for run in runs:
        handle = lifeboat.temporal.get_workflow_handle(run.workflow_id)
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("left running by a failed test")


@pytest.fixture
def big_app(apps: Any, volume_spec: Any) -> Any:
    """A fresh volume per test: a second copy of the same one is incremental (and instant)."""
    return apps.make("wf-big", [volume_spec("big", "csi-snap", fill=random_files)])


async def copy_heartbeat(
    lifeboat: LifeboatClient, run: Run[Any, Any], *, finished_file: bool = False
) -> CopyProgress:
    """The first heartbeat of the run's volume copy that the server holds with a checkpoint
    naming stored packs (and, with `finished_file`, a finished file): from then on a retried
    copy resumes instead of starting over (and does not read that file again)."""
    handle = lifeboat.temporal.get_workflow_handle(run.workflow_id)
    converter = lifeboat.temporal.data_converter.payload_converter
    deadline = time.monotonic() + 120
    while True:
        described = await handle.describe()
        assert described.status == WorkflowExecutionStatus.RUNNING, (
            f"the run ended ({described.status}) before its copy stored a checkpoint"
        )
        if time.monotonic() > deadline:
            pytest.fail(
                f"no copy checkpoint within 120 s; pending: {pending_activities(described)}"
            )
        for pending in described.raw_description.pending_activities:
            payloads = pending.heartbeat_details.payloads
            if pending.activity_type.name == "volume.copy" and payloads:
                progress = CopyProgress.model_validate(converter.from_payload(payloads[-1]))
                stored = (progress.checkpoint or {}).get("repo") or {}
                finished = (progress.checkpoint or {}).get("finished") or {}
                assert isinstance(stored, dict) and isinstance(finished, dict)
                has_packs = stored.get("packs") or stored.get("indexes")
                if (
                    progress.bytes_read
                    and has_packs
                    and (finished.get("files") or not finished_file)
                ):
                    return progress
        await asyncio.sleep(0.2)


async def result_within(
    lifeboat: LifeboatClient, run: Run[Any, Any], seconds: float, agent: processes.ManagedProcess
) -> Any:
    """The run's result; past `seconds`, a failure that says where the run stands (its
    pending activities) and what the agent logged, instead of the suite's bare timeout."""
    try:
        return await asyncio.wait_for(run.result(), seconds)
    except TimeoutError:
        described = await lifeboat.temporal.get_workflow_handle(run.workflow_id).describe()
        alive = "alive" if agent.alive else "dead"
        pytest.fail(
            f"the run did not end in {seconds} s; pending: {pending_activities(described)}; "
            f"agent {agent.name} ({alive}) logged:\n{agent.log_tail(40)}"
        )


def pending_activities(described: WorkflowExecutionDescription) -> list[str]:
    """Where a run stands, for a failure's message: its pending activities."""
    return [
        f"{p.activity_type.name} attempt {p.attempt} state {p.state} "
        f"last failure {p.last_failure.message!r}"
        for p in described.raw_description.pending_activities
    ]


async def copy_attempts(lifeboat: LifeboatClient, run: Run[Any, Any]) -> int:
    """The attempt number of the volume copy that completed, from the run's history."""
    history = await lifeboat.temporal.get_workflow_handle(run.workflow_id).fetch_history()
    copies = {
        e.event_id
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "volume.copy"
    }
    return max(
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.activity_task_started_event_attributes.scheduled_event_id in copies
    )


async def test_killed_node_agent_copy_resumes_from_its_checkpoint(
    lifeboat: LifeboatClient,
    big_app: Any,
    kube: Any,
    stack: StackInfo,
    repository_digest: Callable[[str], str],
    restic: Callable[..., str],
    left_running: list[Run[Any, Any]],
) -> None:
    volume = big_app.volumes["big"]
    size = FILES * BLOCKS_PER_FILE * BLOCK
    run = await lifeboat.start_backup(
        BackupRequest.model_validate(
            {
                "cluster": "dev",
                "selection": {"include_namespaces": [big_app.namespace]},
                # Two files at a time, so files finish one pair after another, and at
                # 20 MiB/s, so the copy (16 s) is surely mid-way when the test kills it.
                "options": {
                    "snapshot_before_backup": False,
                    "total_concurrent_files": 2,
                    "concurrent_pvs": 1,
                    "datamover_bandwidth_limit_mib": 20,
                },
            }
        )
    )
    left_running.append(run)
    progress = await copy_heartbeat(lifeboat, run, finished_file=True)
    assert progress.bytes_uploaded < size, "killed too late: the copy had uploaded everything"
    agent = state.load(stack.home).processes[f"agent-{volume.node}"]  # type: ignore[union-attr]
    await asyncio.to_thread(processes.kill, agent)
    await asyncio.to_thread(devstack.up, stack.home, clusters=("dev", "dev2"))
    restarted = state.load(stack.home).processes[agent.name]  # type: ignore[union-attr]
    assert restarted.pid != agent.pid and restarted.alive, restarted.log_tail()

    point = await result_within(lifeboat, run, 180, restarted)
    assert point.status is RecoveryPointStatus.COMPLETED
    [copied] = point.volumes
    assert copied.method is BackupMethod.HOST_VOLUME
    assert "snapshot_before_backup is off" in copied.reason
    assert copied.status is VolumeBackupStatus.COMPLETED
    assert copied.node == volume.node
    # Another attempt, on the restarted agent, started from the checkpoint: what the killed
    # one had stored was not stored again, and the files it had finished were not read again.
    assert await copy_attempts(lifeboat, run) >= 2
    assert copied.bytes_uploaded < size
    assert copied.bytes_total == size
    assert copied.bytes_read <= size - BLOCKS_PER_FILE * BLOCK  # by the last attempt
    assert copied.repository_snapshot_id is not None
    assert repository_digest(copied.repository_snapshot_id) == volume.digest
    # The killed agent's repository lock stays behind; its process is gone, so it is stale
    # and `restic unlock` (what an operator runs after a crash) removes it.
    assert "successfully removed locks" in restic("unlock")
    restic("check")


async def test_cancel_mid_copy_leaves_nothing_behind(
    lifeboat: LifeboatClient,
    big_app: Any,
    kube: Any,
    run_id_of: Any,
    restic: Callable[..., str],
    left_running: list[Run[Any, Any]],
) -> None:
    run = await lifeboat.start_backup(
        BackupRequest(cluster="dev", selection={"include_namespaces": [big_app.namespace]})
    )
    left_running.append(run)
    await copy_heartbeat(lifeboat, run)
    run_id = await run_id_of(run)
    # Mid-copy from a snapshot: a VolumeSnapshot, a PVC made from it and a mounter pod.
    made = kube.run_objects("dev", run_id)
    assert {m.split()[0] for m in made} == {"Pod", "PersistentVolumeClaim", "VolumeSnapshot"}
    await run.cancel()
    with pytest.raises(RunFailedError, match=r"(?i)cancel"):
        await run.result()
    assert kube.run_objects("dev", run_id) == []
    assert kube.managed_objects("dev") == []
    # The run ended only once its copy had stopped and let go of its repository lock.
    out = restic("check")
    assert "no errors were found" in out


async def test_a_terminated_runs_copy_stops_and_lets_go_of_its_lock(
    lifeboat: LifeboatClient,
    big_app: Any,
    kube: Any,
    config: Any,
    restic: Callable[..., str],
    left_running: list[Run[Any, Any]],
) -> None:
    """Terminating a run (the Web UI's Terminate) runs none of its clean-up, but its copy
    learns at its next heartbeat that the run is gone, stops, and removes its repository
    lock: the repository is not held until the lock goes stale."""

    def locks() -> set[str]:
        return set(restic("list", "locks", "--no-lock").split())

    open_repository(config.storage_locations["default"], create=True).close()
    before = locks()
    run = await lifeboat.start_backup(
        BackupRequest.model_validate(
            {
                "cluster": "dev",
                "selection": {"include_namespaces": [big_app.namespace]},
                "options": {"snapshot_before_backup": False, "datamover_bandwidth_limit_mib": 20},
            }
        )
    )
    left_running.append(run)
    await copy_heartbeat(lifeboat, run)
    assert locks() - before, "the copy holds no lock"
    await lifeboat.temporal.get_workflow_handle(run.workflow_id).terminate("by the test")
    deadline = time.monotonic() + 60
    while locks() - before:
        assert time.monotonic() < deadline, "the terminated run's copy still holds its lock"
        await asyncio.sleep(0.5)
    assert kube.managed_objects("dev") == []  # (a copy from the node's directory makes none)


async def test_a_backup_started_during_garbage_collection_waits_for_its_lock(
    lifeboat: LifeboatClient, apps: Any, volume_spec: Any, config: Any
) -> None:
    """An exclusive lock (what gc takes) held while a backup starts: its steps wait for it
    without spending their retries, then finish."""
    app = apps.make("wf-locked", [volume_spec("data", "csi-nosnap")])
    with (
        open_repository(config.storage_locations["default"]) as repo,
        repo.lock(exclusive=True),
    ):
        run = await lifeboat.start_backup(
            BackupRequest(cluster="dev", selection={"include_namespaces": [app.namespace]})
        )
        handle = lifeboat.temporal.get_workflow_handle(run.workflow_id)
        waited = 0
        while waited < 10:  # the run reaches its export, which waits on the lock
            described = await handle.describe()
            pending = described.raw_description.pending_activities
            if any(p.activity_type.name == "resources.export" for p in pending):
                waited += 1
            await asyncio.sleep(0.5)
        assert described.status == WorkflowExecutionStatus.RUNNING
        assert all(p.attempt == 1 for p in pending), pending
    point = await run.result()
    assert point.status is RecoveryPointStatus.COMPLETED
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts and max(attempts) == 1  # nothing failed for the lock
