"""MigrationWorkflow: move a selection of cluster A into cluster B, and, run by a
replication's schedule, keep B in step with A.

The runbook: back up the source (a child Backup run, so the recovery point is an ordinary
one: listed, restorable, expiring on its own), restore it into the target (a child Restore
run, or a child EksRestore run that first creates the target as a new EKS cluster), and, for
a replication that opted in, remove from the target what it restored earlier and the source
no longer has. A replication's backups are incremental (each volume's previous copy is its
parent), so a run reads and uploads only what changed. The children run on this run's task
queue: the control worker's.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.aws import EksRestoreRequest, EksRestoreResult, EksRestoreStatus
    from lifeboat.contracts.migration import (
        MigrationPhase,
        MigrationProgress,
        MigrationRequest,
        MigrationResult,
        MigrationStatus,
    )
    from lifeboat.contracts.restore import PruneReplicatedInput, PruneResult
    from lifeboat.contracts.restore_run import RestoreRunResult, RestoreStatus
    from lifeboat.models import RecoveryPoint, RecoveryPointStatus
    from lifeboat.search_attributes import CLUSTER, JOB, POLICY, RECOVERY_POINT
    from workflows.calls import on_cluster
    from workflows.inputs import parse_input


@workflow.defn(name="Migration")
class MigrationWorkflow:
    def __init__(self) -> None:
        self._progress = MigrationProgress(workflow_id="")

    @workflow.query
    def progress(self) -> MigrationProgress:
        return self._progress

    def _update(self, **changes: object) -> None:
        self._progress = self._progress.model_copy(update=changes)
        p = self._progress
        lines = [f"**Phase:** {p.phase.value}", f"**From** {p.source} **to** {p.target}"]
        if p.recovery_point:
            lines.append(f"**Recovery point:** {p.recovery_point}")
        lines += [f"**{name} run:** {run_id}" for name, run_id in p.children.items()]
        if p.message:
            lines.append(p.message)
        workflow.set_current_details("\n".join(lines))

    @workflow.run
    async def run(self, raw_request: dict[str, Any]) -> MigrationResult:
        """Takes a `MigrationRequest` as JSON:
        `{"source_cluster": "a", "target_cluster": "b"}` is a complete one."""
        request = parse_input(MigrationRequest, raw_request)
        info = workflow.info()
        self._update(
            workflow_id=info.workflow_id,
            source=request.source_cluster,
            target=request.target_cluster,
        )
        workflow.upsert_search_attributes(
            [
                CLUSTER.value_set(request.source_cluster),
                JOB.value_set("replication" if request.replication else "migration"),
                *([POLICY.value_set(request.replication)] if request.replication else []),
            ]
        )

        # 1. Back up the source.
        point = await self.back_up(request)

        # 2. Restore into the target (created first when it is a new EKS cluster).
        eks: EksRestoreResult | None = None
        if request.new_eks_cluster is not None:
            eks = await self.restore_into_new_eks_cluster(request, point)
            restored = eks.kubernetes
        else:
            restored = await self.restore(request, point)
        if restored is None:
            assert eks is not None
            raise ApplicationError(
                f"the new EKS cluster was not restored into: {eks.error or eks.kubernetes_note}",
                type="RestoreNotRun",
                non_retryable=True,
            )

        # 3. With a replication's consent, remove what the source no longer has.
        pruned = PruneResult()
        if request.delete_removed and request.replication is not None:
            self._update(phase=MigrationPhase.PRUNING)
            pruned = await on_cluster(
                request.target_cluster,
                "kube.prune_replicated",
                PruneReplicatedInput(
                    replication=request.replication, keep=[o.ref for o in restored.objects]
                ),
                PruneResult,
                f"remove what {request.source_cluster} no longer has",
            )

        partial = (
            point.status is not RecoveryPointStatus.COMPLETED
            or restored.status is not RestoreStatus.COMPLETED
        )
        self._update(phase=MigrationPhase.DONE, message=f"{len(pruned.removed)} objects removed")
        return MigrationResult(
            workflow_id=info.workflow_id,
            status=MigrationStatus.PARTIALLY_FAILED if partial else MigrationStatus.COMPLETED,
            recovery_point=point,
            restore=restored,
            eks_restore=eks,
            pruned=pruned,
        )

    async def back_up(self, request: MigrationRequest) -> RecoveryPoint:
        backup_id = f"backup-{workflow.info().workflow_id}"
        self._update(phase=MigrationPhase.BACKING_UP, children={"Backup": backup_id})
        point: RecoveryPoint = await workflow.execute_child_workflow(
            "Backup",
            request.backup_request().model_dump(mode="json"),
            id=backup_id,
            result_type=RecoveryPoint,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"Backup of {request.source_cluster} for {workflow.info().workflow_id}",
        )
        self._update(recovery_point=point.id)
        workflow.upsert_search_attributes([RECOVERY_POINT.value_set(point.id)])
        if point.status is RecoveryPointStatus.FAILED:
            raise ApplicationError(
                f"the backup of {request.source_cluster} failed: {'; '.join(point.warnings)}",
                type="BackupFailed",
                non_retryable=True,
            )
        return point

    async def restore(self, request: MigrationRequest, point: RecoveryPoint) -> RestoreRunResult:
        restore_id = f"restore-{point.id}"
        self._update(
            phase=MigrationPhase.RESTORING,
            children={**self._progress.children, "Restore": restore_id},
        )
        result: RestoreRunResult = await workflow.execute_child_workflow(
            "Restore",
            request.restore_request(point.id).model_dump(mode="json"),
            id=restore_id,
            result_type=RestoreRunResult,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"Restore of {point.id} into {request.target_cluster}",
        )
        return result

    async def restore_into_new_eks_cluster(
        self, request: MigrationRequest, point: RecoveryPoint
    ) -> EksRestoreResult:
        assert request.new_eks_cluster is not None
        eks_id = f"eks-restore-{point.id}"
        self._update(
            phase=MigrationPhase.RESTORING,
            children={**self._progress.children, "EksRestore": eks_id},
        )
        eks_request = EksRestoreRequest.model_validate(
            {
                **request.new_eks_cluster.model_dump(),
                "recovery_point": point.id,
                "storage_location": request.storage_location,
                "restore_id": request.replication or workflow.info().workflow_id,
                "kubernetes": request.restore_request(point.id),
            }
        )
        result: EksRestoreResult = await workflow.execute_child_workflow(
            "EksRestore",
            eks_request.model_dump(mode="json"),
            id=eks_id,
            result_type=EksRestoreResult,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"New EKS cluster {eks_request.cluster_name} from {point.id}",
        )
        if result.status is EksRestoreStatus.FAILED:
            existing = ", ".join(f"{r.kind.value} {r.name}" for r in result.existing or [])
            raise ApplicationError(
                f"the EKS restore failed at {result.step}: {result.error}; "
                f"existing now: {existing or 'nothing'}",
                type="EksRestoreFailed",
                non_retryable=True,
            )
        return result
