"""Policies against the stack's real Temporal dev server: each test owns uniquely named
policies and deletes them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from pydantic import ValidationError
from temporalio.client import ScheduleOverlapPolicy

from devstack.fixtures import LifeboatCli
from devstack.info import StackInfo
from lifeboat.client import LifeboatClient
from lifeboat.config import load_config
from lifeboat.models import BackupPolicy
from lifeboat.policies import PolicyNotFoundError, PolicyService, schedule_id
from lifeboat.search_attributes import POLICY

T = TypeVar("T")


@pytest.fixture
async def client(stack: StackInfo) -> AsyncIterator[LifeboatClient]:
    async with await LifeboatClient.connect(load_config(stack.home / "config.yaml")) as c:
        yield c


@pytest.fixture
def service(client: LifeboatClient) -> PolicyService:
    return PolicyService(client)


@pytest.fixture
async def unique(service: PolicyService) -> AsyncIterator[Callable[[], str]]:
    """New policy names; whatever of them exists at the end is deleted."""
    made: list[str] = []

    def new() -> str:
        made.append(f"t-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield new
    for name in made:
        with contextlib.suppress(PolicyNotFoundError):
            await service.delete(name)


def policy(name: str, **schedule: Any) -> BackupPolicy:
    return BackupPolicy.model_validate(
        {
            "name": name,
            "cluster": "dev",
            "retention": "7d",
            "schedule": schedule or {"cron": "0 3 * * *"},
        }
    )


async def eventually(check: Callable[[], Awaitable[T | None]]) -> T:
    """Visibility and schedule bookkeeping in Temporal lag a little behind the call."""
    for _ in range(50):
        if (result := await check()) is not None:
            return result
        await asyncio.sleep(0.3)
    raise AssertionError("condition not met within 15 s")


async def test_created_policy_is_listed_with_next_run_times(
    unique: Callable[[], str], service: PolicyService
) -> None:
    name = unique()
    await service.create(policy(name, cron="30 2 * * *", time_zone="Europe/Berlin"))

    async def listed() -> Any:
        return next((s for s in await service.list() if s.name == name), None)

    summary = await eventually(listed)
    assert summary.cluster == "dev"
    assert summary.schedule == "cron 30 2 * * * (Europe/Berlin)"
    assert not summary.paused
    assert len(summary.next_runs) >= 2
    assert (summary.next_runs[1] - summary.next_runs[0]) in {
        timedelta(hours=23),
        timedelta(hours=24),
        timedelta(hours=25),
    }
    assert await service.get(name) == policy(name, cron="30 2 * * *", time_zone="Europe/Berlin")


async def test_update_changes_the_spec_and_overlap_is_skip_by_default(
    unique: Callable[[], str], service: PolicyService, client: LifeboatClient
) -> None:
    name = unique()
    await service.create(policy(name))
    handle = client.temporal.get_schedule_handle(schedule_id(name))
    before = await handle.describe()
    assert before.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    [calendar] = before.schedule.spec.calendars  # Temporal stores cron as a calendar
    assert [r.start for r in calendar.hour] == [3]
    assert not before.schedule.spec.intervals

    await service.update(policy(name, interval="2h", overlap="buffer_one"))
    after = await handle.describe()
    assert [i.every for i in after.schedule.spec.intervals] == [timedelta(hours=2)]
    assert after.schedule.policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
    assert (await service.get(name)).schedule.interval == timedelta(hours=2)


async def test_pause_with_note_and_resume(
    unique: Callable[[], str], service: PolicyService, client: LifeboatClient
) -> None:
    name = unique()
    await service.create(policy(name))
    handle = client.temporal.get_schedule_handle(schedule_id(name))

    await service.pause(name, "cluster upgrade")
    state = (await handle.describe()).schedule.state
    assert state.paused and state.note == "cluster upgrade"
    got = await service.get(name)
    assert got.schedule.paused and got.schedule.note == "cluster upgrade"

    await service.resume(name)
    assert not (await handle.describe()).schedule.state.paused


async def test_trigger_starts_a_backup_of_the_policy(
    unique: Callable[[], str], service: PolicyService, client: LifeboatClient
) -> None:
    name = unique()
    await service.create(policy(name))
    await service.trigger(name)
    handle = client.temporal.get_schedule_handle(schedule_id(name))

    async def started() -> Any:
        actions = (await handle.describe()).info.recent_actions
        return actions[0].action if actions else None

    execution = await eventually(started)
    run = client.temporal.get_workflow_handle(execution.workflow_id)
    try:
        described = await run.describe()
        assert described.workflow_type == "Backup"
        assert described.typed_search_attributes.get(POLICY) == name
        assert execution.workflow_id.startswith(f"backup-dev-policy-{name}-")
    finally:
        await run.terminate("test")

    by_hand = await service.trigger(name, retention=timedelta(days=2))
    assert by_hand is not None
    manual = client.temporal.get_workflow_handle(by_hand.workflow_id)
    try:
        described = await manual.describe()
        assert described.typed_search_attributes.get(POLICY) == name
        history = await manual.fetch_history()
        first = history.events[0].workflow_execution_started_event_attributes
        [request] = await client.temporal.data_converter.decode(first.input.payloads)
        assert request["retention"] == "P2D"
        assert request["policy"] == name
    finally:
        await manual.terminate("test")


async def test_export_delete_import_restores_an_equal_policy(
    unique: Callable[[], str], service: PolicyService
) -> None:
    name = unique()
    original = policy(name, interval="6h", jitter="5m", time_zone="Asia/Tokyo")
    await service.create(original)
    await service.pause(name, "frozen")
    exported = await service.export_yaml([name])

    await service.delete(name)
    with pytest.raises(PolicyNotFoundError, match=name):
        await service.get(name)

    assert await service.import_yaml(exported) == [name]
    restored = await service.get(name)
    assert restored.schedule.paused and restored.schedule.note == "frozen"
    assert restored.model_dump(exclude={"schedule"}) == original.model_dump(exclude={"schedule"})
    assert restored.schedule.model_dump(exclude={"paused", "note"}) == original.schedule.model_dump(
        exclude={"paused", "note"}
    )


async def test_unknown_policy_error_lists_existing(
    unique: Callable[[], str], service: PolicyService
) -> None:
    name = unique()
    await service.create(policy(name))

    async def visible() -> Any:
        return True if name in await service.names() else None

    await eventually(visible)
    with pytest.raises(PolicyNotFoundError, match=f"unknown policy 't-nope'.*{name}"):
        await service.pause("t-nope", "x")


def broken(name: str, field: str) -> BackupPolicy:
    """A policy made invalid after validation, as a caller's ``model_copy`` could."""
    good = policy(name)
    if field == "cron":
        return good.model_copy(
            update={"schedule": good.schedule.model_copy(update={"cron": "61 * * * *"})}
        )
    if field == "time_zone":
        return good.model_copy(
            update={"schedule": good.schedule.model_copy(update={"time_zone": "Mars/Olympus"})}
        )
    options = good.options.model_copy(update={"preserve_snapshots": True})
    return good.model_copy(update={"snapshot_retention": timedelta(days=30), "options": options})


@pytest.mark.parametrize("field", ["cron", "time_zone", "snapshot_retention"])
async def test_bad_policies_create_nothing(
    unique: Callable[[], str], service: PolicyService, field: str
) -> None:
    name = unique()
    bad = broken(name, field)
    with pytest.raises(ValidationError, match=field):
        await service.create(bad)
    exported = yaml.safe_dump([bad.model_dump(mode="json")])
    with pytest.raises(ValidationError, match=field):
        await service.import_yaml(exported)
    with pytest.raises(PolicyNotFoundError):
        await service.get(name)


def test_cli_create_pause_export_delete(lifeboat_cli: LifeboatCli, tmp_path: Path) -> None:
    name = f"t-{uuid.uuid4().hex[:10]}"
    file = tmp_path / "policy.yaml"
    file.write_text(yaml.safe_dump(policy(name, interval="1h").model_dump(mode="json")))
    created = lifeboat_cli("policy", "create", "--file", str(file))
    assert created.returncode == 0, created.stderr
    try:
        again = lifeboat_cli("policy", "create", "--file", str(file))
        assert again.returncode == 1
        assert f"policy {name!r} already exists" in again.stderr

        assert lifeboat_cli("policy", "pause", name, "--note", "maintenance").returncode == 0
        table = lifeboat_cli("policy", "list")
        assert table.returncode == 0 and "NEXT RUNS" in table.stdout
        exported = lifeboat_cli("policy", "export", name)
        [back] = yaml.safe_load(exported.stdout)
        assert back["schedule"] == {"interval": "PT1H", "paused": True, "note": "maintenance"}
    finally:
        deleted = lifeboat_cli("policy", "delete", name)
    assert deleted.returncode == 0, deleted.stderr
    gone = lifeboat_cli("policy", "resume", name)
    assert gone.returncode == 1
    assert f"unknown policy {name!r}" in gone.stderr


def test_cli_rejects_a_bad_file_in_one_line(lifeboat_cli: LifeboatCli, tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    bad = policy("t-bad").model_dump(mode="json")
    bad["schedule"] = {"cron": "0 3 * * *", "time_zone": "Mars/Olympus"}
    file.write_text(yaml.safe_dump(bad))
    done = lifeboat_cli("policy", "create", "--file", str(file))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: invalid policy: schedule.time_zone:")
    assert "Mars/Olympus" in line
