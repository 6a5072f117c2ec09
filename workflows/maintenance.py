"""RepositoryMaintenance: garbage-collect a storage location's repository, check a sample
of its data, and report its stats in the run's details.

Two maintenances of one repository never overlap: every run has the workflow id
`maintenance-<location>`, which Temporal gives to one running workflow at a time. A
schedule cannot use a fixed id (it appends the time), so it starts
ScheduledRepositoryMaintenance, which starts the maintenance under that id as a child, or
records that it skipped because one is running.

A backup or restore that holds the repository's lock is never broken: a step that finds
the lock taken waits on a durable timer and tries again, for at most the request's limit.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.maintenance import (
        JOB_NAME,
        MAINTENANCE_WORKFLOW,
        REPOSITORY_LOCKED,
        SCHEDULED_MAINTENANCE_WORKFLOW,
        CheckRepositoryInput,
        CollectGarbageInput,
        GarbageCollection,
        MaintenancePhase,
        MaintenanceProgress,
        MaintenanceRequest,
        MaintenanceResult,
        RepositoryCheck,
        RepositoryStats,
        RepositoryStatsInput,
        ScheduledMaintenanceResult,
        describe_check,
        describe_gc,
        describe_stats,
        maintenance_workflow_id,
    )
    from lifeboat.models import format_duration
    from lifeboat.search_attributes import JOB
    from workflows import policies
    from workflows.inputs import parse_input

T = TypeVar("T")


def details(progress: MaintenanceProgress) -> str:
    """The run's current details in the Temporal UI (Markdown)."""
    lines = [
        f"**Phase:** {progress.phase.value}",
        f"**Storage location:** {progress.storage_location}",
    ]
    if progress.lock_holder:
        lines.append(f"**Locked by:** {progress.lock_holder}")
    if progress.garbage_collection is not None:
        lines.append(f"**Garbage collection:** {describe_gc(progress.garbage_collection)}")
    if progress.check is not None:
        lines.append(f"**Check:** {describe_check(progress.check)}")
        lines += [f"- {problem}" for problem in progress.check.problems]
    if progress.stats is not None:
        lines.append(f"**Repository:** {describe_stats(progress.stats)}")
    if progress.message:
        lines.append(progress.message)
    return "\n".join(lines)


def _lock_holder(error: ActivityError) -> str | None:
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == REPOSITORY_LOCKED:
        return cause.message
    return None


@workflow.defn(name=MAINTENANCE_WORKFLOW)
class RepositoryMaintenanceWorkflow:
    def __init__(self) -> None:
        self._progress = MaintenanceProgress()

    @workflow.query
    def progress(self) -> MaintenanceProgress:
        return self._progress

    @workflow.run
    async def run(self, raw_request: dict[str, Any]) -> MaintenanceResult:
        """Takes a `MaintenanceRequest` as JSON: `{"storage_location": "default"}` is one."""
        request = parse_input(MaintenanceRequest, raw_request)
        workflow.upsert_search_attributes([JOB.value_set(JOB_NAME)])
        location = request.storage_location
        margin = format_duration(request.gc_safety_margin)
        self._update(storage_location=location)
        gc: GarbageCollection = await self._step(
            request,
            MaintenancePhase.COLLECTING_GARBAGE,
            "maintenance.collect_garbage",
            CollectGarbageInput(storage_location=location, safety_margin=request.gc_safety_margin),
            GarbageCollection,
            f"Collect the garbage of {location} (safety margin {margin})",
        )
        self._update(garbage_collection=gc)
        check: RepositoryCheck = await self._step(
            request,
            MaintenancePhase.CHECKING,
            "maintenance.check",
            CheckRepositoryInput(
                storage_location=location, read_data_percent=request.check_read_data_percent
            ),
            RepositoryCheck,
            f"Check {location}, reading {request.check_read_data_percent:g}% of the packs",
        )
        self._update(check=check)
        stats: RepositoryStats = await self._step(
            request,
            MaintenancePhase.MEASURING,
            "maintenance.stats",
            RepositoryStatsInput(storage_location=location),
            RepositoryStats,
            f"Measure {location}",
        )
        if not check.ok:
            self._update(stats=stats, phase=MaintenancePhase.FAILED)
            raise ApplicationError(
                f"the check of {location} found {check.problem_count} problems: "
                + "; ".join(check.problems[:3]),
                type="RepositoryDamaged",
                non_retryable=True,
            )
        self._update(stats=stats, phase=MaintenancePhase.DONE)
        return MaintenanceResult(
            storage_location=location,
            gc_safety_margin=request.gc_safety_margin,
            garbage_collection=gc,
            check=check,
            stats=stats,
        )

    async def _step(
        self,
        request: MaintenanceRequest,
        phase: MaintenancePhase,
        activity: str,
        arg: object,
        result_type: type[T],
        summary: str,
    ) -> T:
        """Run one step; while the repository is locked, wait and try again."""
        waited = timedelta(0)
        self._update(phase=phase, lock_holder=None, message="")
        while True:
            try:
                result: T = await workflow.execute_activity(
                    activity,
                    arg,
                    result_type=result_type,
                    task_queue=workflow.info().task_queue,
                    start_to_close_timeout=policies.MAINTENANCE_TIMEOUT,
                    heartbeat_timeout=policies.MAINTENANCE_HEARTBEAT,
                    retry_policy=policies.MAINTENANCE_RETRY,
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=summary,
                )
                return result
            except ActivityError as exc:
                holder = _lock_holder(exc)
                if holder is None:
                    self._update(phase=MaintenancePhase.FAILED)
                    raise
                if waited + request.lock_retry_interval > request.lock_wait_limit:
                    self._update(phase=MaintenancePhase.FAILED, lock_holder=holder)
                    raise ApplicationError(
                        f"gave up {phase.value} after waiting "
                        f"{format_duration(waited)} for the repository lock: {holder}",
                        type=REPOSITORY_LOCKED,
                        non_retryable=True,
                    ) from None
            self._update(
                phase=MaintenancePhase.WAITING_FOR_LOCK,
                lock_holder=holder,
                message=f"next try in {format_duration(request.lock_retry_interval)}, "
                f"then {phase.value}",
            )
            await workflow.sleep(request.lock_retry_interval)
            waited += request.lock_retry_interval
            self._update(phase=phase, lock_holder=None, message="")

    def _update(self, **changes: object) -> None:
        self._progress = self._progress.model_copy(update=changes)
        workflow.set_current_details(details(self._progress))


@workflow.defn(name=SCHEDULED_MAINTENANCE_WORKFLOW)
class ScheduledMaintenanceWorkflow:
    """What a location's schedule starts: its maintenance under the location's one id."""

    @workflow.run
    async def run(self, raw_request: dict[str, Any]) -> ScheduledMaintenanceResult:
        request = parse_input(MaintenanceRequest, raw_request)
        workflow.upsert_search_attributes([JOB.value_set(JOB_NAME)])
        child_id = maintenance_workflow_id(request.storage_location)
        try:
            child = await workflow.start_child_workflow(
                MAINTENANCE_WORKFLOW,
                request.model_dump(mode="json"),
                id=child_id,
                result_type=MaintenanceResult,
                # Cancelling the scheduled run cancels the maintenance, which lets the
                # running step finish cleanly and release the repository's lock.
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=TypedSearchAttributes([SearchAttributePair(JOB, JOB_NAME)]),
                static_summary=f"Maintenance of storage location {request.storage_location}",
            )
        except WorkflowAlreadyStartedError:
            skipped = f"skipped: maintenance of {request.storage_location} is running ({child_id})"
            workflow.set_current_details(skipped)
            return ScheduledMaintenanceResult(workflow_id=child_id, skipped=skipped)
        workflow.set_current_details(f"started {child_id}")
        result: MaintenanceResult = await child
        return ScheduledMaintenanceResult(workflow_id=child_id, result=result)
