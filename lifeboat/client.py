"""The typed Python client other services use to start and follow Lifeboat runs.

    async with await LifeboatClient.connect() as lifeboat:
        run = await lifeboat.start_backup(BackupRequest(cluster="prod"))
        async for progress in run.follow():
            print(progress.phase, progress.bytes_done)
        point = await run.result()

Requests are validated here, before a run starts, so a bad request creates nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Generic, Self, TypeVar
from urllib.parse import quote

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from lifeboat.config import LifeboatConfig, load_config
from lifeboat.contracts.catalog import GetRecoveryPointInput, ListRecoveryPointsInput
from lifeboat.contracts.migration import MigrationProgress, MigrationRequest, MigrationResult
from lifeboat.contracts.progress import RunProgress
from lifeboat.contracts.restore_run import RestoreRunResult
from lifeboat.models import BackupRequest, RecoveryPoint, RestoreRequest
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.search_attributes import CLUSTER, JOB, POLICY, RECOVERY_POINT
from lifeboat.temporal import connect

R = TypeVar("R", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


class RunFailedError(Exception):
    """A run ended without success; the message is the run's own failure."""


class Run(Generic[R, P]):
    """A started run: follow it, query its progress (`P`), wait for its result (`R`)."""

    def __init__(
        self,
        handle: WorkflowHandle[object, object],
        result_type: type[R],
        ui: str | None,
        progress_type: type[P],
    ):
        self._handle = handle
        self._result_type = result_type
        self._progress_type = progress_type
        self.workflow_id = handle.id
        self.ui_url = ui

    async def progress(self) -> P:
        raw = await self._handle.query("progress", result_type=self._progress_type)
        return self._progress_type.model_validate(raw)

    async def live_bytes(self) -> int:
        """Bytes the running copies have read so far, from their latest heartbeats."""
        described = await self._handle.describe()
        total = 0
        for pending in described.raw_description.pending_activities:
            details = pending.heartbeat_details.payloads
            if details:
                data = self._handle._client.data_converter.payload_converter.from_payload(
                    details[-1]
                )
                if isinstance(data, dict):
                    total += int(data.get("bytes_read", 0) or 0)
        return total

    async def follow(self, interval: float = 1.0) -> AsyncIterator[P]:
        """Progress snapshots until the run ends."""
        while True:
            described = await self._handle.describe()
            if described.status != WorkflowExecutionStatus.RUNNING:
                return
            try:
                snapshot: P | None = await self.progress()
            except WorkflowQueryFailedError:  # the first workflow task has not run yet
                snapshot = None
            if snapshot is not None:
                yield snapshot
            await asyncio.sleep(interval)

    async def result(self) -> R:
        try:
            raw = await self._handle.result()
        except Exception as exc:
            raise RunFailedError(failure_message(exc)) from None
        return self._result_type.model_validate(raw)

    async def cancel(self) -> None:
        await self._handle.cancel()


def failure_message(exc: BaseException) -> str:
    messages = []
    current: BaseException | None = exc
    while current is not None:
        text = getattr(current, "message", None) or str(current)
        if text and text not in messages:
            messages.append(text)
        current = current.__cause__
    return messages[-1] if messages else repr(exc)


class LifeboatClient:
    def __init__(self, client: Client, config: LifeboatConfig):
        self.temporal = client
        self.config = config

    @classmethod
    async def connect(cls, config: LifeboatConfig | None = None) -> Self:
        config = config or load_config()
        return cls(await connect(config.temporal), config)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def ui_url(self, workflow_id: str) -> str | None:
        base = self.config.temporal.ui_url
        if base is None:
            return None
        namespace = quote(self.config.temporal.namespace)
        return f"{base}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"

    def _known_names(self, cluster: str | None, storage_location: str) -> None:
        """Unknown names fail here, before a run exists (the workers check them again)."""
        if cluster is not None and cluster not in self.config.clusters:
            known = ", ".join(sorted(self.config.clusters)) or "none configured"
            raise ValueError(f"cluster: unknown cluster {cluster!r}; configured: {known}")
        if storage_location not in self.config.storage_locations:
            known = ", ".join(sorted(self.config.storage_locations)) or "none configured"
            raise ValueError(
                f"storage_location: unknown storage location {storage_location!r}; "
                f"configured: {known}"
            )

    async def start_backup(
        self, request: BackupRequest, *, workflow_id: str | None = None
    ) -> Run[RecoveryPoint, RunProgress]:
        from workflows.naming import backup_workflow_id

        self._known_names(request.cluster, request.storage_location)
        now = datetime.now(UTC)
        workflow_id = workflow_id or backup_workflow_id(request.cluster, now)
        handle = await self.temporal.start_workflow(
            "Backup",
            request.model_dump(mode="json"),
            id=workflow_id,
            task_queue=CONTROL_QUEUE,
            search_attributes=_attributes(request.cluster, "backup", policy=request.policy),
            static_summary=f"Backup of cluster {request.cluster}",
            static_details=_details(request),
        )
        return Run(handle, RecoveryPoint, self.ui_url(workflow_id), RunProgress)

    async def start_restore(
        self, request: RestoreRequest, *, workflow_id: str | None = None
    ) -> Run[RestoreRunResult, RunProgress]:
        from workflows.naming import restore_workflow_id

        self._known_names(request.target_cluster, request.storage_location)
        target = request.target_cluster or "its own cluster"
        workflow_id = workflow_id or restore_workflow_id(request.recovery_point, datetime.now(UTC))
        handle = await self.temporal.start_workflow(
            "Restore",
            request.model_dump(mode="json"),
            id=workflow_id,
            task_queue=CONTROL_QUEUE,
            search_attributes=_attributes(
                request.target_cluster, "restore", recovery_point=request.recovery_point
            ),
            static_summary=f"Restore of {request.recovery_point} into {target}",
            static_details=_details(request),
        )
        return Run(handle, RestoreRunResult, self.ui_url(workflow_id), RunProgress)

    async def start_migration(
        self, request: MigrationRequest, *, workflow_id: str | None = None
    ) -> Run[MigrationResult, MigrationProgress]:
        """Back up ``source_cluster`` and restore into ``target_cluster`` as one run."""
        from workflows.naming import migration_workflow_id

        self._known_names(request.source_cluster, request.storage_location)
        if request.new_eks_cluster is None:  # a new EKS target is configured once it exists
            self._known_names(request.target_cluster, request.storage_location)
        workflow_id = workflow_id or migration_workflow_id(
            request.source_cluster, request.target_cluster, datetime.now(UTC)
        )
        handle = await self.temporal.start_workflow(
            "Migration",
            request.model_dump(mode="json"),
            id=workflow_id,
            task_queue=CONTROL_QUEUE,
            search_attributes=_attributes(
                request.source_cluster,
                "replication" if request.replication else "migration",
                policy=request.replication,
            ),
            static_summary=f"Migration of {request.source_cluster} to {request.target_cluster}",
            static_details=_details(request),
        )
        return Run(handle, MigrationResult, self.ui_url(workflow_id), MigrationProgress)

    def backup_run(self, workflow_id: str) -> Run[RecoveryPoint, RunProgress]:
        return Run(
            self.temporal.get_workflow_handle(workflow_id),
            RecoveryPoint,
            self.ui_url(workflow_id),
            RunProgress,
        )

    async def list_recovery_points(
        self, *, storage_location: str = "default", cluster: str | None = None
    ) -> list[RecoveryPoint]:
        self._known_names(None, storage_location)
        points = await self._catalog(
            "catalog.list",
            ListRecoveryPointsInput(storage_location=storage_location, cluster=cluster),
        )
        assert isinstance(points, list)
        return [RecoveryPoint.model_validate(p) for p in points]

    async def describe_recovery_point(
        self, recovery_point: str, *, storage_location: str = "default"
    ) -> RecoveryPoint:
        self._known_names(None, storage_location)
        raw = await self._catalog(
            "catalog.get",
            GetRecoveryPointInput(storage_location=storage_location, id=recovery_point),
        )
        return RecoveryPoint.model_validate(raw)

    async def _catalog(self, activity: str, arg: BaseModel) -> object:
        """Catalog reads run on the control worker, which holds the repository's secrets."""
        return await self.temporal.execute_workflow(
            "CatalogQuery",
            {"activity": activity, "input": arg.model_dump(mode="json")},
            id=f"catalog-{activity}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}",
            task_queue=CONTROL_QUEUE,
            search_attributes=_attributes(None, "catalog"),
        )


def _attributes(
    cluster: str | None, job: str, *, policy: str | None = None, recovery_point: str | None = None
) -> TypedSearchAttributes:
    pairs = [SearchAttributePair(JOB, job)]
    for key, value in ((CLUSTER, cluster), (POLICY, policy), (RECOVERY_POINT, recovery_point)):
        if value is not None:
            pairs.append(SearchAttributePair(key, value))
    return TypedSearchAttributes(pairs)


def _details(request: BaseModel) -> str:
    return "```json\n" + request.model_dump_json(indent=2, exclude_defaults=True) + "\n```"
