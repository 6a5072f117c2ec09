"""Backup policies as Temporal Schedules: one schedule per policy, id ``policy-<name>``.

The schedule is the only copy of a policy, so policies survive a control-plane restart and
show (with their next run times) in the Temporal UI. The full ``BackupPolicy`` travels in the
memo of the schedule's action: unlike the schedule's own memo, that one can be changed by
an update, so ``get`` and ``export_yaml`` always read back what the last update wrote.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
import yaml
from pydantic import TypeAdapter
from temporalio.client import (
    Schedule,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from lifeboat.client import LifeboatClient, Run
from lifeboat.models import BackupPolicy, RecoveryPoint, format_duration
from lifeboat.models.base import LifeboatModel
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.search_attributes import CLUSTER, JOB, POLICY

log = structlog.get_logger(__name__)

SCHEDULE_PREFIX = "policy-"
POLICY_MEMO_KEY = "lifeboat-policy"
_POLICIES = TypeAdapter(list[BackupPolicy])


class PolicyNotFoundError(LookupError):
    """No schedule for that policy name; the message lists the existing policies."""


class PolicyExistsError(ValueError):
    """A create or import names a policy that already exists."""


class RecentRun(LifeboatModel):
    scheduled_at: datetime
    started_at: datetime
    workflow_id: str | None


class PolicySummary(LifeboatModel):
    """One line of ``lifeboat policy list``: the policy and what its schedule reports."""

    name: str
    cluster: str
    schedule: str
    paused: bool
    note: str | None
    next_runs: list[datetime]
    recent_runs: list[RecentRun]


def schedule_id(name: str) -> str:
    return SCHEDULE_PREFIX + name


def workflow_id_prefix(policy: BackupPolicy) -> str:
    """Temporal appends the scheduled time, so runs read ``backup-<cluster>-policy-<name>-…``."""
    return f"backup-{policy.cluster}-policy-{policy.name}"


def schedule_text(policy: BackupPolicy) -> str:
    spec = policy.schedule
    if spec.cron is not None:
        return f"cron {spec.cron} ({spec.time_zone})"
    assert spec.interval is not None
    return f"every {format_duration(spec.interval)}"


def _run_attributes(policy: BackupPolicy) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(CLUSTER, policy.cluster),
            SearchAttributePair(JOB, "backup"),
            SearchAttributePair(POLICY, policy.name),
        ]
    )


def to_schedule(policy: BackupPolicy) -> Schedule:
    """The Temporal Schedule of a policy: its spec, overlap policy, state and action."""
    spec = policy.schedule
    request = policy.to_request()
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "Backup",
            request.model_dump(mode="json"),
            id=workflow_id_prefix(policy),
            task_queue=CONTROL_QUEUE,
            typed_search_attributes=_run_attributes(policy),
            memo={POLICY_MEMO_KEY: policy.model_dump(mode="json")},
            static_summary=f"Backup of cluster {policy.cluster} by policy {policy.name}",
        ),
        spec=ScheduleSpec(
            cron_expressions=[spec.cron] if spec.cron is not None else [],
            intervals=[ScheduleIntervalSpec(every=spec.interval)]
            if spec.interval is not None
            else [],
            time_zone_name=spec.time_zone,
            jitter=spec.jitter,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy[spec.overlap.name]),
        state=ScheduleState(paused=spec.paused, note=spec.note),
    )


def _revalidated(policy: BackupPolicy) -> BackupPolicy:
    """Models built without validation (``model_construct``) are checked here, before any
    schedule exists."""
    return BackupPolicy.model_validate(policy.model_dump())


class PolicyService:
    """Create, change, run and list backup policies."""

    def __init__(self, client: LifeboatClient):
        self._client = client

    async def create(self, policy: BackupPolicy) -> None:
        policy = self._checked(policy)
        try:
            await self._client.temporal.create_schedule(
                schedule_id(policy.name), to_schedule(policy)
            )
        except ScheduleAlreadyRunningError:
            raise PolicyExistsError(
                f"policy {policy.name!r} already exists; use update to change it"
            ) from None
        log.info("policy created", policy=policy.name, schedule=schedule_text(policy))

    async def update(self, policy: BackupPolicy) -> None:
        """Replace the policy as a whole, paused state and note included."""
        policy = self._checked(policy)
        handle = await self._existing(policy.name)
        new_schedule = to_schedule(policy)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=new_schedule)

        await handle.update(replace)
        log.info("policy updated", policy=policy.name, schedule=schedule_text(policy))

    async def pause(self, name: str, note: str | None = None) -> None:
        handle = await self._existing(name)
        await handle.pause(note=note or "paused with lifeboat")

    async def resume(self, name: str, note: str | None = None) -> None:
        handle = await self._existing(name)
        await handle.unpause(note=note or "resumed with lifeboat")

    async def trigger(
        self, name: str, retention: timedelta | None = None
    ) -> Run[RecoveryPoint] | None:
        """Run the policy now. With the policy's retention the schedule starts the run (and
        its overlap policy applies); a retention given by hand needs its own request, so
        the run is started directly and returned."""
        handle = await self._existing(name)
        if retention is None:
            await handle.trigger()
            return None
        from workflows.naming import utc_stamp

        policy = _policy_of(await handle.describe(), self._client)
        request = policy.to_request(retention=retention)
        workflow_id = f"{workflow_id_prefix(policy)}-{utc_stamp(datetime.now(UTC))}"
        return await self._client.start_backup(request, workflow_id=workflow_id)

    async def delete(self, name: str) -> None:
        """Deletes the schedule only; runs it started and their recovery points stay."""
        handle = await self._existing(name)
        await handle.delete()

    async def get(self, name: str) -> BackupPolicy:
        handle = await self._existing(name)
        return _policy_of(await handle.describe(), self._client)

    async def list(self) -> list[PolicySummary]:
        summaries = []
        for name in await self.names():
            try:
                described = await self._client.temporal.get_schedule_handle(
                    schedule_id(name)
                ).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # deleted since it was listed
                    continue
                raise
            summaries.append(_summary(_policy_of(described, self._client), described))
        return summaries

    async def names(self) -> builtins.list[str]:
        """Names of the existing policies, from the visibility store (eventually
        consistent: a schedule created a moment ago may be missing for a second)."""
        names = []
        async for entry in await self._client.temporal.list_schedules():
            if entry.id.startswith(SCHEDULE_PREFIX):
                names.append(entry.id.removeprefix(SCHEDULE_PREFIX))
        return sorted(names)

    async def export_yaml(self, names: Iterable[str] | None = None) -> str:
        chosen = list(names) if names is not None else await self.names()
        policies = [await self.get(name) for name in chosen]
        return yaml.safe_dump(
            [p.model_dump(mode="json", exclude_defaults=True) for p in policies],
            sort_keys=False,
        )

    async def import_yaml(self, text: str, update_existing: bool = False) -> builtins.list[str]:
        """Every policy is validated, and existing names are checked, before any schedule
        is created or changed. Returns the imported names."""
        loaded = yaml.safe_load(text)
        if isinstance(loaded, Mapping):
            loaded = [loaded]
        policies = [self._checked(p) for p in _POLICIES.validate_python(loaded or [])]
        existing = set(await self.names())
        if not update_existing:
            clashes = sorted(p.name for p in policies if p.name in existing)
            if clashes:
                raise PolicyExistsError(
                    f"policies already exist: {', '.join(clashes)}; import with update to "
                    "replace them"
                )
        for policy in policies:
            if policy.name in existing:
                await self.update(policy)
            else:
                await self.create(policy)
        return [p.name for p in policies]

    def _checked(self, policy: BackupPolicy) -> BackupPolicy:
        policy = _revalidated(policy)
        self._client._known_names(policy.cluster, policy.storage_location)
        return policy

    async def _existing(self, name: str) -> ScheduleHandle:
        handle = self._client.temporal.get_schedule_handle(schedule_id(name))
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            known = ", ".join(await self.names()) or "none"
            raise PolicyNotFoundError(f"unknown policy {name!r}; existing: {known}") from None
        return handle


def _policy_of(described: ScheduleDescription, client: LifeboatClient) -> BackupPolicy:
    """The stored policy, with the schedule's live paused state and note (pause and resume
    change only those)."""
    action = described.schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not action.memo:
        raise ValueError(f"schedule {described.id!r} holds no Lifeboat policy")
    payload = action.memo.get(POLICY_MEMO_KEY)
    if payload is None:
        raise ValueError(f"schedule {described.id!r} holds no Lifeboat policy")
    raw: Any = client.temporal.data_converter.payload_converter.from_payload(payload)
    policy = BackupPolicy.model_validate(raw)
    state = described.schedule.state
    schedule = policy.schedule.model_copy(
        update={"paused": state.paused, "note": state.note or None}
    )
    return policy.model_copy(update={"schedule": schedule})


def _summary(policy: BackupPolicy, described: ScheduleDescription) -> PolicySummary:
    info = described.info
    return PolicySummary(
        name=policy.name,
        cluster=policy.cluster,
        schedule=schedule_text(policy),
        paused=policy.schedule.paused,
        note=policy.schedule.note,
        next_runs=list(info.next_action_times),
        recent_runs=[
            RecentRun(
                scheduled_at=result.scheduled_at,
                started_at=result.started_at,
                workflow_id=result.action.workflow_id
                if isinstance(result.action, ScheduleActionExecutionStartWorkflow)
                else None,
            )
            for result in info.recent_actions
        ],
    )
