"""Jobs on a schedule (backup policies, replications) as Temporal Schedules, one per job,
id ``<prefix><name>``.

The schedule is the only copy of a job's definition, so it survives a control-plane
restart and shows (with its next run times) in the Temporal UI. The full definition travels
in the memo of the schedule's action: unlike the schedule's own memo, that one can be
changed by an update, so ``get`` and ``export_yaml`` always read back what the last update
wrote.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import structlog
import yaml
from pydantic import BaseModel, TypeAdapter
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
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from lifeboat.client import LifeboatClient
from lifeboat.models import format_duration
from lifeboat.models.base import LifeboatModel
from lifeboat.models.schedule import Schedule as ScheduleModel
from lifeboat.queues import CONTROL_QUEUE

log = structlog.get_logger(__name__)

J = TypeVar("J", bound=LifeboatModel)


class ScheduledJobNotFoundError(LookupError):
    """No schedule of that name; the message lists the existing ones."""


class ScheduledJobExistsError(ValueError):
    """A create or import names a job that already exists."""


class RecentRun(LifeboatModel):
    scheduled_at: datetime
    started_at: datetime
    workflow_id: str | None


class ScheduledJobSummary(LifeboatModel):
    """One line of ``lifeboat policy list`` or ``lifeboat replication list``."""

    name: str
    cluster: str
    """The cluster the job reads (a backup's, a replication's source)."""
    schedule: str
    paused: bool
    note: str | None
    next_runs: list[datetime]
    recent_runs: list[RecentRun]


def temporal_schedule(spec: ScheduleModel, action: ScheduleActionStartWorkflow) -> Schedule:
    """A Temporal Schedule that takes `action` when `spec` says."""
    return Schedule(
        action=action,
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


def schedule_text(spec: ScheduleModel) -> str:
    if spec.cron is not None:
        return f"cron {spec.cron} ({spec.time_zone})"
    assert spec.interval is not None
    return f"every {format_duration(spec.interval)}"


class ScheduledKind(ABC, Generic[J]):
    """What differs between kinds of scheduled jobs: their model, workflow and names."""

    noun: str
    """``policy``, ``replication``: in messages."""
    prefix: str
    """Of the schedule ids."""
    workflow_type: str
    memo_key: str
    model: type[J]

    @abstractmethod
    def name(self, job: J) -> str: ...

    @abstractmethod
    def schedule(self, job: J) -> ScheduleModel: ...

    @abstractmethod
    def cluster(self, job: J) -> str: ...

    @abstractmethod
    def request(self, job: J) -> BaseModel:
        """The workflow input of each run."""

    @abstractmethod
    def workflow_id_prefix(self, job: J) -> str:
        """Temporal appends the scheduled time to it."""

    @abstractmethod
    def run_attributes(self, job: J) -> TypedSearchAttributes: ...

    @abstractmethod
    def summary(self, job: J) -> str: ...

    @abstractmethod
    def known_names(self, job: J) -> tuple[list[str], str]:
        """The clusters and the storage location the job names, checked before it is saved."""

    def schedule_id(self, name: str) -> str:
        return self.prefix + name

    def to_schedule(self, job: J) -> Schedule:
        return temporal_schedule(
            self.schedule(job),
            ScheduleActionStartWorkflow(
                self.workflow_type,
                self.request(job).model_dump(mode="json"),
                id=self.workflow_id_prefix(job),
                task_queue=CONTROL_QUEUE,
                typed_search_attributes=self.run_attributes(job),
                memo={self.memo_key: job.model_dump(mode="json")},
                static_summary=self.summary(job),
            ),
        )


class ScheduleService(Generic[J]):
    """Create, change, run and list the scheduled jobs of one kind."""

    def __init__(self, client: LifeboatClient, kind: ScheduledKind[J]):
        self._client = client
        self.kind = kind
        self._many = TypeAdapter(list[kind.model])  # type: ignore[name-defined]

    async def create(self, job: J) -> None:
        job = self._checked(job)
        name = self.kind.name(job)
        try:
            await self._client.temporal.create_schedule(
                self.kind.schedule_id(name), self.kind.to_schedule(job)
            )
        except ScheduleAlreadyRunningError:
            raise ScheduledJobExistsError(
                f"{self.kind.noun} {name!r} already exists; use update to change it"
            ) from None
        log.info("schedule created", kind=self.kind.noun, name=name)

    async def update(self, job: J) -> None:
        """Replace the job as a whole, paused state and note included."""
        job = self._checked(job)
        handle = await self._existing(self.kind.name(job))
        new_schedule = self.kind.to_schedule(job)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=new_schedule)

        await handle.update(replace)
        log.info("schedule updated", kind=self.kind.noun, name=self.kind.name(job))

    async def pause(self, name: str, note: str | None = None) -> None:
        handle = await self._existing(name)
        await handle.pause(note=note or "paused with lifeboat")

    async def resume(self, name: str, note: str | None = None) -> None:
        handle = await self._existing(name)
        await handle.unpause(note=note or "resumed with lifeboat")

    async def trigger_scheduled(self, name: str) -> None:
        """Run now through the schedule, so its overlap policy applies."""
        handle = await self._existing(name)
        await handle.trigger()

    async def delete(self, name: str) -> None:
        """Deletes the schedule only; the runs it started and what they made stay."""
        handle = await self._existing(name)
        await handle.delete()

    async def get(self, name: str) -> J:
        handle = await self._existing(name)
        return self._job_of(await handle.describe())

    async def list(self) -> builtins.list[ScheduledJobSummary]:
        summaries = []
        for name in await self.names():
            try:
                described = await self._client.temporal.get_schedule_handle(
                    self.kind.schedule_id(name)
                ).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # deleted since it was listed
                    continue
                raise
            summaries.append(self._summary(self._job_of(described), described))
        return summaries

    async def names(self) -> builtins.list[str]:
        """Names from the visibility store (eventually consistent: a schedule created a
        moment ago may be missing for a second)."""
        names = []
        async for entry in await self._client.temporal.list_schedules():
            if entry.id.startswith(self.kind.prefix):
                names.append(entry.id.removeprefix(self.kind.prefix))
        return sorted(names)

    async def export_yaml(self, names: Iterable[str] | None = None) -> str:
        chosen = list(names) if names is not None else await self.names()
        jobs = [await self.get(name) for name in chosen]
        return yaml.safe_dump(
            [j.model_dump(mode="json", exclude_defaults=True) for j in jobs], sort_keys=False
        )

    async def import_yaml(self, text: str, update_existing: bool = False) -> builtins.list[str]:
        """Every job is validated, and existing names are checked, before any schedule is
        created or changed. Returns the imported names."""
        loaded = yaml.safe_load(text)
        if isinstance(loaded, Mapping):
            loaded = [loaded]
        jobs = [self._checked(j) for j in self._many.validate_python(loaded or [])]
        existing = set(await self.names())
        if not update_existing:
            clashes = sorted(self.kind.name(j) for j in jobs if self.kind.name(j) in existing)
            if clashes:
                raise ScheduledJobExistsError(
                    f"{self.kind.noun} already exists: {', '.join(clashes)}; import with "
                    "update to replace"
                )
        for job in jobs:
            if self.kind.name(job) in existing:
                await self.update(job)
            else:
                await self.create(job)
        return [self.kind.name(j) for j in jobs]

    def _checked(self, job: J) -> J:
        """Models built without validation (``model_construct``) are checked here, before
        any schedule exists; so are the names of clusters and storage locations."""
        job = self.kind.model.model_validate(job.model_dump())
        clusters, location = self.kind.known_names(job)
        for cluster in clusters:
            self._client._known_names(cluster, location)
        return job

    async def _existing(self, name: str) -> ScheduleHandle:
        handle = self._client.temporal.get_schedule_handle(self.kind.schedule_id(name))
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            known = ", ".join(await self.names()) or "none"
            raise ScheduledJobNotFoundError(
                f"unknown {self.kind.noun} {name!r}; existing: {known}"
            ) from None
        return handle

    def _job_of(self, described: ScheduleDescription) -> J:
        """The stored job, with the schedule's live paused state and note (pause and resume
        change only those)."""
        action = described.schedule.action
        payload = (
            action.memo.get(self.kind.memo_key)
            if isinstance(action, ScheduleActionStartWorkflow) and action.memo
            else None
        )
        if payload is None:
            raise ValueError(f"schedule {described.id!r} holds no Lifeboat {self.kind.noun}")
        raw: Any = self._client.temporal.data_converter.payload_converter.from_payload(payload)
        job = self.kind.model.model_validate(raw)
        state = described.schedule.state
        schedule = self.kind.schedule(job).model_copy(
            update={"paused": state.paused, "note": state.note or None}
        )
        return job.model_copy(update={"schedule": schedule})

    def _summary(self, job: J, described: ScheduleDescription) -> ScheduledJobSummary:
        info = described.info
        spec = self.kind.schedule(job)
        return ScheduledJobSummary(
            name=self.kind.name(job),
            cluster=self.kind.cluster(job),
            schedule=schedule_text(spec),
            paused=spec.paused,
            note=spec.note,
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
