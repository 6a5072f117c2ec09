"""BackupWorkflow: protect a cluster's resources and volumes as one recovery point.

The runbook: resolve the request, discover what is in scope, plan each volume, snapshot,
export the resources, copy the volumes, tidy up the snapshots, record the recovery point.
Every step is an activity on the queue of the agent that can do it; the workflow itself
only decides and keeps the story straight.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.aws import CaptureEksInput, CaptureEksResult
    from lifeboat.contracts.catalog import BackupContext, PrepareBackupInput, RecordInput
    from lifeboat.contracts.kube import (
        CreateSnapshotsInput,
        CreateSnapshotsOutput,
        DeleteSnapshotsInput,
        DiscoverInput,
        ExposeVolumeInput,
        Inventory,
        PreserveSnapshotsInput,
        ReleaseVolumeInput,
        SnapshotRef,
        SnapshotState,
        SnapshotTarget,
        SweepRunInput,
        SweepRunOutput,
        VolumeExposure,
        VolumeInfo,
        WaitSnapshotsInput,
        WaitSnapshotsOutput,
    )
    from lifeboat.contracts.progress import Phase, RunProgress
    from lifeboat.contracts.resources import ExportToRepositoryInput, ExportToRepositoryResult
    from lifeboat.contracts.volumes import CopyVolumeInput, CopyVolumeResult, VolumeRef
    from lifeboat.expiry import (
        EXPIRY_WORKFLOW,
        expiry_input,
        expiry_search_attributes,
        expiry_workflow_id,
    )
    from lifeboat.models import (
        BackupMethod,
        BackupRequest,
        PvMode,
        RecoveryPoint,
        RecoveryPointStatus,
        VolumeBackup,
        VolumeBackupStatus,
        VolumeMethodDecision,
    )
    from lifeboat.planning import plan_volumes
    from lifeboat.queues import CONTROL_QUEUE, cluster_queue
    from lifeboat.search_attributes import (
        CLUSTER,
        JOB,
        POLICY,
        RECOVERY_POINT,
    )
    from workflows import policies
    from workflows.calls import on_cluster, on_control, on_node
    from workflows.errors import activity_failure_reason
    from workflows.inputs import parse_input
    from workflows.naming import recovery_point_id

JOB_NAME = "backup"


@workflow.defn(name="Backup")
class BackupWorkflow:
    def __init__(self) -> None:
        self._progress = RunProgress(workflow_id="")
        self._started = timedelta(0)

    @workflow.query
    def progress(self) -> RunProgress:
        return self._progress

    @workflow.run
    async def run(self, raw_request: dict[str, Any]) -> RecoveryPoint:
        """Takes a `BackupRequest` as JSON: `{"cluster": "dev"}` is a complete one."""
        request = parse_input(BackupRequest, raw_request)
        info = workflow.info()
        rp_id = recovery_point_id(request.cluster, info.workflow_id, workflow.now())
        self._update(workflow_id=info.workflow_id, recovery_point=rp_id)
        workflow.upsert_search_attributes(
            [
                CLUSTER.value_set(request.cluster),
                JOB.value_set(JOB_NAME),
                RECOVERY_POINT.value_set(rp_id),
                *([POLICY.value_set(request.policy)] if request.policy else []),
            ]
        )
        created_at = workflow.now()
        context: BackupContext = await on_control(
            "catalog.prepare_backup",
            PrepareBackupInput(request=request),
            BackupContext,
            f"resolve cluster {request.cluster} and storage location",
        )
        run = _BackupRun(self, request, context, rp_id, info.run_id)
        try:
            return await run.execute(created_at)
        except asyncio.CancelledError:
            self._update(phase=Phase.CANCELLED, message="cancelled; removing what the run made")
            await run.sweep()
            raise
        except Exception:
            await run.sweep()
            raise

    def _update(self, **changes: object) -> None:
        self._progress = self._progress.model_copy(update=changes)
        p = self._progress
        details = [f"**Phase:** {p.phase.value}"]
        if p.recovery_point:
            details.append(f"**Recovery point:** {p.recovery_point}")
        if p.volumes_total:
            details.append(f"**Volumes:** {p.volumes_done} of {p.volumes_total} done")
        if p.bytes_done:
            details.append(f"**Copied:** {_human(p.bytes_done)} at {_human(p.bytes_per_second)}/s")
        if p.plan:
            details.append("**Plan:**")
            details += [f"- {d.namespace}/{d.pvc}: {d.method.value} ({d.reason})" for d in p.plan]
        if p.message:
            details.append(p.message)
        workflow.set_current_details("\n".join(details))


class _BackupRun:
    """One run's state, so each runbook step stays a short method."""

    def __init__(
        self,
        wf: BackupWorkflow,
        request: BackupRequest,
        context: BackupContext,
        rp_id: str,
        run_id: str,
    ) -> None:
        self.wf = wf
        self.request = request
        self.options = request.options
        self.context = context
        self.cluster = request.cluster
        self.rp_id = rp_id
        self.run_id = run_id
        self.queue = cluster_queue(request.cluster)
        self.warnings: list[str] = []

    async def kube(self, name: str, arg: object, result_type: type, summary: str) -> Any:
        return await on_cluster(self.cluster, name, arg, result_type, summary)

    async def execute(self, created_at: datetime) -> RecoveryPoint:
        # 1. Discover what is in scope.
        self.wf._update(phase=Phase.DISCOVERING)
        inventory = await self.kube(
            "kube.discover",
            DiscoverInput(selection=self.request.selection),
            Inventory,
            f"discover {self.cluster}",
        )
        assert isinstance(inventory, Inventory)
        self.warnings += inventory.warnings

        # 2. Plan every volume; the plan shows in the UI before anything is copied.
        volume_plan = plan_volumes(inventory.volumes, self.options)
        plan = volume_plan.decisions
        volumes = {(v.namespace, v.pvc): v for v in inventory.volumes}
        outcomes = {(d.namespace, d.pvc): _outcome(d) for d in plan}
        for bad in volume_plan.unplanned:  # a configured method that cannot be carried out
            outcomes[(bad.namespace, bad.pvc)] = VolumeBackup(
                namespace=bad.namespace,
                pvc=bad.pvc,
                pv=bad.pv,
                storage_class=bad.storage_class,
                method=bad.method,
                reason=f"configured for storage class {bad.storage_class}",
                status=VolumeBackupStatus.FAILED,
                error=bad.reason,
            )
        self.wf._update(
            phase=Phase.PLANNED,
            plan=plan,
            volumes=list(outcomes.values()),
            volumes_total=sum(1 for d in plan if d.method is not BackupMethod.SKIP),
        )

        # 3. Snapshot the volumes planned for it, all together.
        self.wf._update(phase=Phase.SNAPSHOTTING)
        snapshots = await self.snapshot(
            [d for d in plan if d.method is BackupMethod.SNAPSHOT], volumes, outcomes
        )

        # 4. Export the selected resources into the repository.
        self.wf._update(phase=Phase.EXPORTING)
        exported = await self.kube(
            "resources.export",
            ExportToRepositoryInput(
                run_id=self.run_id,
                recovery_point=self.rp_id,
                cluster=self.cluster,
                storage_location=self.context.storage_location,
                selection=self.request.selection,
            ),
            ExportToRepositoryResult,
            "export resources to the repository",
        )
        assert isinstance(exported, ExportToRepositoryResult)
        self.wf._update(objects_done=exported.total)

        # 4b. An EKS cluster's AWS configuration, beside its resources.
        aws_snapshot_id = None
        if self.context.cluster.aws is not None:
            captured: CaptureEksResult = await workflow.execute_activity(
                "aws.capture_eks",
                CaptureEksInput(
                    aws=self.context.cluster.aws,
                    storage_location=self.context.storage_location,
                    recovery_point=self.rp_id,
                    cluster=self.cluster,
                ),
                result_type=CaptureEksResult,
                task_queue=workflow.info().task_queue,
                start_to_close_timeout=policies.AWS_TIMEOUT,
                retry_policy=policies.AWS_RETRY,
                summary="back up the EKS cluster's AWS configuration",
            )
            aws_snapshot_id = captured.snapshot_id
            self.warnings += captured.summary.warnings

        # 5. Copy the volumes, at most concurrent_pvs at a time.
        if self.options.pv_mode is PvMode.OBJECT_STORAGE:
            self.wf._update(phase=Phase.COPYING)
            await self.copy_all(plan, snapshots, outcomes)

        # 6. Delete the snapshots, or keep them with their expiry.
        self.wf._update(phase=Phase.CLEANING_UP)
        expires_at = workflow.now() + self.request.retention
        snapshot_expires_at = None
        if snapshots:
            if self.options.keeps_snapshots:
                snapshot_expires_at = workflow.now() + self.request.effective_snapshot_retention
                await self.kube(
                    "kube.preserve_snapshots",
                    PreserveSnapshotsInput(
                        snapshots=[s.snapshot for s in snapshots.values() if s.ready],
                        recovery_point=self.rp_id,
                        expires_at=snapshot_expires_at,
                    ),
                    type(None),
                    "keep snapshots until their retention ends",
                )
            else:
                await self.delete_snapshots([s.snapshot for s in snapshots.values()])

        # 7. Record the recovery point in the repository's catalog.
        self.wf._update(phase=Phase.RECORDING)
        volumes_out = list(outcomes.values())
        failed = [v for v in volumes_out if v.status is VolumeBackupStatus.FAILED]
        status = RecoveryPointStatus.PARTIALLY_FAILED if failed else RecoveryPointStatus.COMPLETED
        rp = RecoveryPoint(
            id=self.rp_id,
            cluster=self.cluster,
            policy=self.request.policy,
            storage_location=self.context.storage_location.name,
            workflow_id=workflow.info().workflow_id,
            created_at=created_at,
            completed_at=workflow.now(),
            expires_at=expires_at,
            snapshot_expires_at=snapshot_expires_at,
            status=status,
            resource_snapshot_id=exported.snapshot_id,
            aws_snapshot_id=aws_snapshot_id,
            volumes=volumes_out,
            resource_counts=exported.counts,
            warnings=self.warnings,
            labels=self.request.labels,
        )
        await on_control(
            "catalog.record",
            RecordInput(storage_location=self.context.storage_location, recovery_point=rp),
            str,
            f"record recovery point {self.rp_id}",
        )
        # 8. Its expiry, as a run of its own that outlives this one.
        if workflow.patched("start-expiry"):
            await self.start_expiry(rp)
        self.wf._update(phase=Phase.DONE, volumes=volumes_out)
        return rp

    async def start_expiry(self, rp: RecoveryPoint) -> None:
        # Already started means a retried task of this run started it.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await workflow.start_child_workflow(
                EXPIRY_WORKFLOW,
                expiry_input(rp, expire_now=False),
                id=expiry_workflow_id(rp.id),
                task_queue=CONTROL_QUEUE,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=expiry_search_attributes(rp),
                static_summary=f"Expiry of {rp.id}",
            )

    async def snapshot(
        self,
        decisions: list[VolumeMethodDecision],
        volumes: dict[tuple[str, str], VolumeInfo],
        outcomes: dict[tuple[str, str], VolumeBackup],
    ) -> dict[tuple[str, str], SnapshotState]:
        if not decisions:
            return {}
        targets = [
            SnapshotTarget(
                namespace=d.namespace,
                pvc=d.pvc,
                snapshot_class=volumes[(d.namespace, d.pvc)].snapshot_class,
            )
            for d in decisions
        ]
        created = await self.kube(
            "kube.create_snapshots",
            CreateSnapshotsInput(run_id=self.run_id, recovery_point=self.rp_id, targets=targets),
            CreateSnapshotsOutput,
            f"create {len(targets)} volume snapshots",
        )
        assert isinstance(created, CreateSnapshotsOutput)
        timeout = self.options.snapshot_ready_timeout
        waited = await workflow.execute_activity(
            "kube.wait_snapshots",
            WaitSnapshotsInput(
                snapshots=created.snapshots, timeout_seconds=timeout.total_seconds()
            ),
            result_type=WaitSnapshotsOutput,
            task_queue=self.queue,
            start_to_close_timeout=timeout + policies.KUBE_TIMEOUT,
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=policies.KUBE_RETRY,
            summary="wait for the snapshots to be ready",
        )
        states: dict[tuple[str, str], SnapshotState] = {}
        broken: list[SnapshotRef] = []
        for state in waited.states:
            key = (state.snapshot.namespace, state.snapshot.pvc)
            states[key] = state
            outcome = outcomes[key].model_copy(
                update={
                    "volume_snapshot": state.snapshot.name,
                    "volume_snapshot_content": state.content,
                }
            )
            if not state.ready:
                why = (
                    f"snapshot not ready within {timeout}"
                    if state.timed_out
                    else f"snapshot failed: {state.error}"
                )
                outcome = outcome.model_copy(
                    update={"status": VolumeBackupStatus.FAILED, "error": why}
                )
                broken.append(state.snapshot)
            elif self.options.pv_mode is PvMode.SNAPSHOT_ONLY:
                outcome = outcome.model_copy(update={"status": VolumeBackupStatus.COMPLETED})
            outcomes[key] = outcome
        if broken:  # a failed snapshot is removed now; its volume is reported failed
            await self.delete_snapshots(broken)
            for ref in broken:
                states.pop((ref.namespace, ref.pvc), None)
        self.wf._update(volumes=list(outcomes.values()))
        return states

    async def copy_all(
        self,
        plan: list[VolumeMethodDecision],
        snapshots: dict[tuple[str, str], SnapshotState],
        outcomes: dict[tuple[str, str], VolumeBackup],
    ) -> None:
        gate = asyncio.Semaphore(self.options.concurrent_pvs)
        started = workflow.now()

        async def one(decision: VolumeMethodDecision) -> None:
            key = (decision.namespace, decision.pvc)
            async with gate:
                outcomes[key] = await self.copy_one(decision, snapshots.get(key), outcomes[key])
            done = [v for v in outcomes.values() if v.status is VolumeBackupStatus.COMPLETED]
            copied = sum(v.bytes_total for v in done)
            elapsed = max((workflow.now() - started).total_seconds(), 1.0)
            self.wf._update(
                volumes=list(outcomes.values()),
                volumes_done=len(done),
                bytes_done=copied,
                bytes_per_second=copied / elapsed,
            )

        todo = [
            d
            for d in plan
            if d.method is not BackupMethod.SKIP
            and outcomes[(d.namespace, d.pvc)].status is not VolumeBackupStatus.FAILED
        ]
        await asyncio.gather(*(one(d) for d in todo))

    async def copy_one(
        self, decision: VolumeMethodDecision, snapshot: SnapshotState | None, outcome: VolumeBackup
    ) -> VolumeBackup:
        name = f"{decision.namespace}/{decision.pvc}"
        begun = workflow.now()
        outcome = outcome.model_copy(update={"status": VolumeBackupStatus.IN_PROGRESS})
        exposure: VolumeExposure | None = None
        try:
            exposed = await self.kube(
                "kube.expose_volume",
                ExposeVolumeInput(
                    run_id=self.run_id,
                    recovery_point=self.rp_id,
                    method=decision.method,
                    namespace=decision.namespace,
                    pvc=decision.pvc,
                    volume_snapshot=snapshot.snapshot.name if snapshot else None,
                ),
                VolumeExposure,
                f"expose {name} ({decision.method.value})",
            )
            assert isinstance(exposed, VolumeExposure)
            exposure = exposed
            copied: CopyVolumeResult = await on_node(
                self.cluster,
                exposure.node,
                "volume.copy",
                CopyVolumeInput(
                    run_id=self.run_id,
                    recovery_point=self.rp_id,
                    cluster=self.cluster,
                    storage_location=self.context.storage_location,
                    volume=VolumeRef(
                        namespace=decision.namespace, pvc=decision.pvc, pv=decision.pv
                    ),
                    source=exposure.volume_path,
                    files=self.options.files_per_pv,
                    memory_limit_mib=self.options.datamover_memory_limit_mib,
                    bandwidth_limit_mib=self.options.datamover_bandwidth_limit_mib,
                ),
                CopyVolumeResult,
                f"copy {name} on {exposure.node}",
            )
            return outcome.model_copy(
                update={
                    "status": VolumeBackupStatus.COMPLETED,
                    "node": exposure.node,
                    "repository_snapshot_id": copied.snapshot_id,
                    "bytes_total": copied.bytes_total,
                    "bytes_read": copied.bytes_read,
                    "bytes_uploaded": copied.bytes_uploaded,
                    "files": copied.files,
                    "duration": workflow.now() - begun,
                }
            )
        except ActivityError as err:
            return outcome.model_copy(
                update={
                    "status": VolumeBackupStatus.FAILED,
                    "error": activity_failure_reason(err),
                    "duration": workflow.now() - begun,
                }
            )
        finally:
            if exposure is not None and exposure.created:
                await self.kube(
                    "kube.release_volume",
                    ReleaseVolumeInput(created=exposure.created),
                    type(None),
                    f"release {name}",
                )

    async def delete_snapshots(self, refs: list[SnapshotRef]) -> None:
        await self.kube(
            "kube.delete_snapshots",
            DeleteSnapshotsInput(snapshots=refs),
            type(None),
            f"delete {len(refs)} volume snapshots",
        )

    async def sweep(self) -> None:
        """Remove every mounter pod, temporary PVC and unpreserved snapshot of this run."""
        await self.kube(
            "kube.sweep_run",
            SweepRunInput(run_id=self.run_id),
            SweepRunOutput,
            "remove what this run created",
        )


def _outcome(decision: VolumeMethodDecision) -> VolumeBackup:
    status = (
        VolumeBackupStatus.SKIPPED
        if decision.method is BackupMethod.SKIP
        else VolumeBackupStatus.PENDING
    )
    return VolumeBackup(**decision.model_dump(), status=status)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"
