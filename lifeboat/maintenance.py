"""Repository maintenance: one Temporal Schedule per storage location, runs by hand, status.

A location's maintenance settings live with the location in the configuration file, so
the configuration is the source of truth for its schedule `maintenance-<location>`: the
control worker applies every location's schedule when it starts (a pause made in the
Temporal UI lasts until then; pause in the configuration to keep it), and
`lifeboat maintenance schedule` applies them on demand.

Every maintenance run of a location, by hand or scheduled, is the workflow
`maintenance-<location>`; Temporal runs one workflow per id at a time, so a second start
is refused here and skipped by the schedule.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from lifeboat.client import LifeboatClient, failure_message
from lifeboat.contracts.maintenance import (
    JOB_NAME,
    MAINTENANCE_WORKFLOW,
    SCHEDULED_MAINTENANCE_WORKFLOW,
    MaintenanceProgress,
    MaintenanceRequest,
    MaintenanceResult,
    maintenance_workflow_id,
)
from lifeboat.models import LifeboatModel, StorageLocation
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.schedules import schedule_text, temporal_schedule
from lifeboat.search_attributes import JOB

log = structlog.get_logger(__name__)


class MaintenanceRunningError(RuntimeError):
    """A maintenance of the location runs already; the message names it."""


class LastMaintenance(LifeboatModel):
    workflow_id: str
    status: str
    started_at: datetime
    closed_at: datetime | None = None
    result: MaintenanceResult | None = None
    """The stats of the run, once it completed."""
    progress: MaintenanceProgress | None = None
    """While it runs."""
    failure: str | None = None


class MaintenanceStatus(LifeboatModel):
    storage_location: str
    schedule: str | None
    """The schedule as text; None if no schedule exists (the control worker has not
    started since the location was configured)."""
    paused: bool = False
    note: str | None = None
    next_runs: list[datetime] = []
    last_run: LastMaintenance | None = None


SCHEDULE_PREFIX = "maintenance-"


def schedule_id(storage_location: str) -> str:
    return SCHEDULE_PREFIX + storage_location


def _attributes() -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(JOB, JOB_NAME)])


def to_schedule(location: StorageLocation) -> Schedule:
    """The location's schedule: it starts ScheduledRepositoryMaintenance, which runs the
    maintenance under the location's one workflow id."""
    settings = location.maintenance
    request = MaintenanceRequest.for_location(location.name, settings)
    return temporal_schedule(
        settings.schedule,
        ScheduleActionStartWorkflow(
            SCHEDULED_MAINTENANCE_WORKFLOW,
            request.model_dump(mode="json"),
            id=f"{maintenance_workflow_id(location.name)}-scheduled",
            task_queue=CONTROL_QUEUE,
            typed_search_attributes=_attributes(),
            static_summary=f"Scheduled maintenance of storage location {location.name}",
        ),
    )


class MaintenanceService:
    def __init__(self, client: LifeboatClient) -> None:
        self._client = client

    def _location(self, name: str) -> StorageLocation:
        self._client._known_names(None, name)
        return self._client.config.storage_locations[name]

    async def apply_schedule(self, storage_location: str) -> str:
        """Create the location's schedule, or make it what the configuration says.
        Returns the schedule as text."""
        location = self._location(storage_location)
        schedule = to_schedule(location)
        temporal = self._client.temporal
        try:
            await temporal.create_schedule(schedule_id(location.name), schedule)
        except ScheduleAlreadyRunningError:

            def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await temporal.get_schedule_handle(schedule_id(location.name)).update(replace)
        text = schedule_text(location.maintenance.schedule)
        log.info("maintenance scheduled", storage_location=location.name, schedule=text)
        return text

    async def apply_schedules(self) -> dict[str, str]:
        """Every configured location's schedule, by location name; the schedules of
        locations no longer configured are deleted (their runs could only fail)."""
        configured = sorted(self._client.config.storage_locations)
        applied = {name: await self.apply_schedule(name) for name in configured}
        async for entry in await self._client.temporal.list_schedules():
            name = entry.id.removeprefix(SCHEDULE_PREFIX)
            if entry.id.startswith(SCHEDULE_PREFIX) and name not in applied:
                try:
                    await self._client.temporal.get_schedule_handle(entry.id).delete()
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:  # another worker deleted it
                        raise
                log.info("maintenance schedule deleted", storage_location=name)
        return applied

    def request(self, storage_location: str, **overrides: object) -> MaintenanceRequest:
        """A run with the location's settings, some replaced (validated: a bad value
        raises ValidationError naming the field)."""
        settings = self._location(storage_location).maintenance
        defaults = MaintenanceRequest.for_location(storage_location, settings)
        return MaintenanceRequest.model_validate({**defaults.model_dump(), **overrides})

    async def start(self, request: MaintenanceRequest) -> WorkflowHandle[object, object]:
        """Start a maintenance now; MaintenanceRunningError if one of the location runs."""
        request = MaintenanceRequest.model_validate(request.model_dump())
        self._location(request.storage_location)
        workflow_id = maintenance_workflow_id(request.storage_location)
        try:
            return await self._client.temporal.start_workflow(
                MAINTENANCE_WORKFLOW,
                request.model_dump(mode="json"),
                id=workflow_id,
                task_queue=CONTROL_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=_attributes(),
                static_summary=f"Maintenance of storage location {request.storage_location}",
            )
        except WorkflowAlreadyStartedError:
            running = await self._client.temporal.get_workflow_handle(workflow_id).describe()
            raise MaintenanceRunningError(
                f"maintenance of storage location {request.storage_location!r} is already "
                f"running: workflow {workflow_id}, started {running.start_time:%Y-%m-%d %H:%M:%S} "
                "UTC; it runs once at a time"
            ) from None

    async def status(self, storage_location: str) -> MaintenanceStatus:
        location = self._location(storage_location)
        handle = self._client.temporal.get_schedule_handle(schedule_id(location.name))
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return MaintenanceStatus(
                storage_location=location.name,
                schedule=None,
                last_run=await self._last_run(location.name),
            )
        return MaintenanceStatus(
            storage_location=location.name,
            schedule=schedule_text(location.maintenance.schedule),
            paused=described.schedule.state.paused,
            note=described.schedule.state.note or None,
            next_runs=list(described.info.next_action_times),
            last_run=await self._last_run(location.name),
        )

    async def _last_run(self, storage_location: str) -> LastMaintenance | None:
        workflow_id = maintenance_workflow_id(storage_location)
        handle = self._client.temporal.get_workflow_handle(workflow_id)
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        status = described.status or WorkflowExecutionStatus.RUNNING
        last = LastMaintenance(
            workflow_id=workflow_id,
            status=status.name.lower(),
            started_at=described.start_time,
            closed_at=described.close_time,
        )
        if status == WorkflowExecutionStatus.RUNNING:
            try:
                progress = await handle.query("progress", result_type=MaintenanceProgress)
            except WorkflowQueryFailedError:  # its first workflow task has not run yet
                return last
            return last.model_copy(update={"progress": progress})
        try:
            result = MaintenanceResult.model_validate(await handle.result())
        except WorkflowFailureError as exc:
            return last.model_copy(update={"failure": failure_message(exc)})
        return last.model_copy(update={"result": result})
