"""RestoreWorkflow: bring a recovery point back, into its own cluster or another.

The runbook: resolve the recovery point and the target, check the storage class mapping
before touching anything, recreate the objects up to the volume claims, write each volume's
data through a mounter pod on the node that got it, then recreate the workloads that use
the data, and report every object and volume with its outcome.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.catalog import PrepareRestoreInput, RestoreContext
    from lifeboat.contracts.kube import VolumeExposure
    from lifeboat.contracts.progress import Phase, RunProgress
    from lifeboat.contracts.resources import RestoreFromRepositoryInput
    from lifeboat.contracts.restore import (
        STAGES_AFTER_DATA,
        STAGES_BEFORE_DATA,
        CheckStorageClassesInput,
        ExposeRestoreVolumeInput,
        ReleaseRestoreVolumeInput,
        RestoredClaim,
        RestoreOutcome,
        RestoreResourcesResult,
        RestoreStage,
    )
    from lifeboat.contracts.restore_run import (
        RestoreRunResult,
        RestoreStatus,
        VolumeRestoreOutcome,
        VolumeRestoreResult,
    )
    from lifeboat.contracts.volumes import RestoreVolumeInput, RestoreVolumeResult
    from lifeboat.models import RestoreRequest, VolumeBackup, VolumeBackupStatus
    from lifeboat.models.restore import ExistingVolumeDataPolicy
    from lifeboat.search_attributes import CLUSTER, JOB, RECOVERY_POINT
    from workflows.calls import on_cluster, on_control, on_node
    from workflows.errors import activity_failure_reason
    from workflows.inputs import parse_input

JOB_NAME = "restore"
CONCURRENT_VOLUMES = 4


@workflow.defn(name="Restore")
class RestoreWorkflow:
    def __init__(self) -> None:
        self._progress = RunProgress(workflow_id="")

    @workflow.query
    def progress(self) -> RunProgress:
        return self._progress

    def _update(self, **changes: object) -> None:
        self._progress = self._progress.model_copy(update=changes)
        p = self._progress
        lines = [f"**Phase:** {p.phase.value}", f"**Recovery point:** {p.recovery_point}"]
        if p.objects_done:
            lines.append(f"**Objects handled:** {p.objects_done}")
        if p.volumes_total:
            lines.append(f"**Volumes:** {p.volumes_done} of {p.volumes_total} restored")
        if p.message:
            lines.append(p.message)
        workflow.set_current_details("\n".join(lines))

    @workflow.run
    async def run(self, raw_request: dict[str, Any]) -> RestoreRunResult:
        """Takes a `RestoreRequest` as JSON: `{"recovery_point": "<id>"}` is a complete one."""
        request = parse_input(RestoreRequest, raw_request)
        info = workflow.info()
        self._update(workflow_id=info.workflow_id, recovery_point=request.recovery_point)
        context: RestoreContext = await on_control(
            "catalog.prepare_restore",
            PrepareRestoreInput(request=request),
            RestoreContext,
            f"find recovery point {request.recovery_point}",
        )
        target = context.target_cluster.name
        workflow.upsert_search_attributes(
            [
                CLUSTER.value_set(target),
                JOB.value_set(JOB_NAME),
                RECOVERY_POINT.value_set(request.recovery_point),
            ]
        )
        run = _RestoreRun(self, request, context, info.run_id)
        return await run.execute()


class _RestoreRun:
    def __init__(
        self, wf: RestoreWorkflow, request: RestoreRequest, context: RestoreContext, run_id: str
    ) -> None:
        self.wf = wf
        self.request = request
        self.context = context
        self.run_id = run_id
        self.target = context.target_cluster.name

    async def kube(self, name: str, arg: object, result_type: type, summary: str) -> Any:
        return await on_cluster(self.target, name, arg, result_type, summary)

    async def execute(self) -> RestoreRunResult:
        rp = self.context.recovery_point
        # 1. A mapping to a storage class the target lacks fails here, before any change.
        if self.request.storage_class_mapping:
            await self.kube(
                "kube.check_storage_class_mapping",
                CheckStorageClassesInput(storage_class_mapping=self.request.storage_class_mapping),
                type(None),
                "check the storage class mapping",
            )
        if rp.resource_snapshot_id is None:
            raise RuntimeError(f"recovery point {rp.id} holds no resources")

        # 2. Objects up to the volume claims: definitions, namespaces, storage.
        self.wf._update(phase=Phase.RESTORING_RESOURCES)
        first = await self.restore_stages(STAGES_BEFORE_DATA, rp.resource_snapshot_id)

        # 3. Volume data into the claims this run created, and with `replace` into the
        #    claims that existed.
        self.wf._update(phase=Phase.RESTORING_VOLUMES, objects_done=len(first.objects))
        replace = self.request.existing_volume_data is ExistingVolumeDataPolicy.REPLACE
        claims = [*first.claims, *(first.existing_claims if replace else ())]
        volumes = await self.restore_volumes(claims, rp.volumes, replace=replace)

        # 4. Everything else, workloads last, now that their data is in place.
        self.wf._update(phase=Phase.RESTORING_WORKLOADS)
        rest = await self.restore_stages(STAGES_AFTER_DATA, rp.resource_snapshot_id)

        objects = [*first.objects, *rest.objects]
        failed = any(o.outcome is RestoreOutcome.FAILED for o in objects) or any(
            v.outcome is VolumeRestoreOutcome.FAILED for v in volumes
        )
        self.wf._update(phase=Phase.DONE, objects_done=len(objects))
        return RestoreRunResult(
            workflow_id=workflow.info().workflow_id,
            recovery_point=rp.id,
            target_cluster=self.target,
            status=RestoreStatus.PARTIALLY_FAILED if failed else RestoreStatus.COMPLETED,
            objects=objects,
            volumes=volumes,
        )

    async def restore_stages(
        self, stages: tuple[RestoreStage, ...], snapshot_id: str
    ) -> RestoreResourcesResult:
        result = await self.kube(
            "resources.restore",
            RestoreFromRepositoryInput(
                run_id=self.run_id,
                storage_location=self.context.storage_location,
                snapshot_id=snapshot_id,
                request=self.request,
                stages=stages,
            ),
            RestoreResourcesResult,
            f"restore {', '.join(s.value for s in stages)}",
        )
        assert isinstance(result, RestoreResourcesResult)
        return result

    async def restore_volumes(
        self, claims: list[RestoredClaim], backed_up: list[VolumeBackup], *, replace: bool
    ) -> list[VolumeRestoreResult]:
        copies = {
            (v.namespace, v.pvc): v
            for v in backed_up
            if v.status is VolumeBackupStatus.COMPLETED and v.repository_snapshot_id
        }
        todo = [c for c in claims if (c.source_namespace, c.name) in copies]
        results: list[VolumeRestoreResult] = [
            VolumeRestoreResult(
                source_namespace=c.source_namespace,
                namespace=c.namespace,
                pvc=c.name,
                outcome=VolumeRestoreOutcome.SKIPPED,
                reason="no copy of this volume's data in the recovery point",
            )
            for c in claims
            if (c.source_namespace, c.name) not in copies
        ]
        if not self.request.restore_pv_data or not todo:
            return results
        self.wf._update(volumes_total=len(todo))
        parallel = min(CONCURRENT_VOLUMES, len(todo))
        files = max(1, self.request.total_concurrent_files // parallel)
        gate = asyncio.Semaphore(parallel)

        async def one(claim: RestoredClaim) -> VolumeRestoreResult:
            async with gate:
                result = await self.restore_volume(
                    claim, copies[(claim.source_namespace, claim.name)], files, replace=replace
                )
            self.wf._update(volumes_done=self.wf._progress.volumes_done + 1)
            return result

        results += await asyncio.gather(*(one(c) for c in todo))
        return results

    async def restore_volume(
        self, claim: RestoredClaim, source: VolumeBackup, files: int, *, replace: bool
    ) -> VolumeRestoreResult:
        name = f"{claim.namespace}/{claim.name}"
        begun = workflow.now()
        base = VolumeRestoreResult(
            source_namespace=claim.source_namespace,
            namespace=claim.namespace,
            pvc=claim.name,
            outcome=VolumeRestoreOutcome.FAILED,
        )
        exposed = False
        try:
            exposure = await self.kube(
                "kube.expose_restore_volume",
                ExposeRestoreVolumeInput(
                    run_id=self.run_id, namespace=claim.namespace, claim=claim.name
                ),
                VolumeExposure,
                f"mount {name} for its data",
            )
            assert isinstance(exposure, VolumeExposure)
            exposed = True
            assert source.repository_snapshot_id is not None
            written: RestoreVolumeResult = await on_node(
                self.target,
                exposure.node,
                "volume.restore",
                RestoreVolumeInput(
                    run_id=self.run_id,
                    storage_location=self.context.storage_location,
                    snapshot_id=source.repository_snapshot_id,
                    target=exposure.volume_path,
                    files=files,
                    memory_limit_mib=self.request.datamover_memory_limit_mib,
                    bandwidth_limit_mib=self.request.datamover_bandwidth_limit_mib,
                    replace=replace,
                ),
                RestoreVolumeResult,
                f"restore data of {name} on {exposure.node}",
            )
            return base.model_copy(
                update={
                    "outcome": VolumeRestoreOutcome.RESTORED,
                    "node": exposure.node,
                    "files": written.files,
                    "bytes_written": written.bytes_written,
                    "duration": workflow.now() - begun,
                }
            )
        except ActivityError as err:
            return base.model_copy(
                update={"reason": activity_failure_reason(err), "duration": workflow.now() - begun}
            )
        finally:
            if exposed:
                await self.kube(
                    "kube.release_restore_volume",
                    ReleaseRestoreVolumeInput(
                        run_id=self.run_id, namespace=claim.namespace, claim=claim.name
                    ),
                    type(None),
                    f"unmount {name}",
                )
