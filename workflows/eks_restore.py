"""EksRestoreWorkflow: a new EKS cluster from a recovery point, then its Kubernetes objects.

The runbook: read the backed-up AWS configuration, apply the request to it (the plan),
create the IAM roles, the cluster, wait until it is ACTIVE, associate OIDC providers,
create node groups, add-ons and Fargate profiles, then run the Kubernetes restore into the
new cluster as a child workflow. AWS activities run on the control queue, where this
workflow runs too, so they go to this workflow's own task queue. Every step finds what an
earlier attempt created; when a step fails, the result lists every planned resource that
exists in the account.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.aws import (
        AwsResource,
        AwsTarget,
        ClusterState,
        EksRestoreContext,
        EksRestorePlan,
        EksRestoreRequest,
        EksRestoreResult,
        EksRestoreStatus,
        EnsureAddonInput,
        EnsureClusterInput,
        EnsureFargateProfileInput,
        EnsureNodeGroupInput,
        EnsureOidcProviderInput,
        EnsureResult,
        EnsureRoleInput,
        PrepareEksRestoreInput,
        SurveyInput,
        WaitClusterInput,
    )
    from lifeboat.contracts.restore_run import RestoreRunResult
    from lifeboat.eks_planning import EksPlanError, plan_eks_restore, target_link
    from lifeboat.search_attributes import JOB, RECOVERY_POINT
    from workflows import policies
    from workflows.errors import activity_failure_reason
    from workflows.inputs import parse_input

JOB_NAME = "eks-restore"


@workflow.defn(name="EksRestore")
class EksRestoreWorkflow:
    def __init__(self) -> None:
        self._result = EksRestoreResult(
            workflow_id="",
            recovery_point="",
            cluster_name="",
            status=EksRestoreStatus.IN_PROGRESS,
        )

    @workflow.query
    def progress(self) -> EksRestoreResult:
        return self._result

    def _update(self, **changes: Any) -> None:
        self._result = self._result.model_copy(update=changes)
        r = self._result
        lines = [f"**Status:** {r.status.value}", f"**Cluster:** {r.cluster_name}"]
        if r.step:
            lines.append(f"**Step:** {r.step}")
        lines += [
            f"- {x.kind.value} {x.name}: {'created' if x.created else 'found'}" for x in r.resources
        ]
        lines += [f"⚠ {w}" for w in r.warnings]
        workflow.set_current_details("\n".join(lines))

    @workflow.run
    async def run(self, raw_request: dict[str, Any]) -> EksRestoreResult:
        """Takes an `EksRestoreRequest` as JSON:
        `{"recovery_point": "<id>", "cluster_name": "<new name>"}` is a complete one."""
        request = parse_input(EksRestoreRequest, raw_request)
        info = workflow.info()
        self._update(
            workflow_id=info.workflow_id,
            recovery_point=request.recovery_point,
            cluster_name=request.cluster_name,
        )
        workflow.upsert_search_attributes(
            [JOB.value_set(JOB_NAME), RECOVERY_POINT.value_set(request.recovery_point)]
        )
        context: EksRestoreContext = await workflow.execute_activity(
            "aws.prepare_eks_restore",
            PrepareEksRestoreInput(request=request),
            result_type=EksRestoreContext,
            task_queue=workflow.info().task_queue,
            start_to_close_timeout=policies.AWS_TIMEOUT,
            retry_policy=policies.CATALOG_RETRY,
            summary=f"read the EKS configuration of {request.recovery_point}",
        )
        try:
            plan = plan_eks_restore(context.capture, request)
        except EksPlanError as exc:
            raise ApplicationError(str(exc), type="InvalidRequest", non_retryable=True) from None
        target = AwsTarget(
            link=target_link(context.capture, request),
            restore_id=request.restore_id or info.workflow_id,
        )
        self._update(warnings=plan.warnings)
        run = _EksRestoreRun(self, request, plan, target)
        try:
            await run.create()
        except ActivityError as err:
            existing = await run.survey()
            self._update(
                status=EksRestoreStatus.FAILED,
                error=activity_failure_reason(err),
                existing=existing,
            )
            return self._result
        await run.kubernetes(context.kubernetes_target_configured)
        return self._result


class _EksRestoreRun:
    def __init__(
        self,
        wf: EksRestoreWorkflow,
        request: EksRestoreRequest,
        plan: EksRestorePlan,
        target: AwsTarget,
    ) -> None:
        self.wf = wf
        self.request = request
        self.plan = plan
        self.target = target
        self.cluster = plan.cluster.name

    def found(self, *resources: AwsResource) -> None:
        self.wf._update(resources=[*self.wf._result.resources, *resources])

    async def aws(
        self,
        name: str,
        arg: object,
        result_type: type,
        summary: str,
        *,
        wait: bool = False,
    ) -> Any:
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result_type,
            task_queue=workflow.info().task_queue,
            start_to_close_timeout=policies.AWS_WAIT_TIMEOUT if wait else policies.AWS_TIMEOUT,
            heartbeat_timeout=policies.AWS_HEARTBEAT if wait else None,
            retry_policy=policies.AWS_RETRY,
            summary=summary,
        )

    async def create(self) -> None:
        target = self.target
        for role in self.plan.roles:
            self.wf._update(step=f"IAM role {role.name}")
            made: EnsureResult = await self.aws(
                "aws.ensure_role",
                EnsureRoleInput(target=target, role=role),
                EnsureResult,
                f"IAM role {role.name} from {role.source.name}",
            )
            self.found(*made.resources)

        self.wf._update(step=f"cluster {self.cluster}")
        self.found(
            await self.aws(
                "aws.ensure_cluster",
                EnsureClusterInput(target=target, cluster=self.plan.cluster),
                AwsResource,
                f"create EKS cluster {self.cluster}",
            )
        )
        self.wf._update(step=f"wait for cluster {self.cluster} to be ACTIVE")
        state: ClusterState = await self.aws(
            "aws.wait_cluster_active",
            WaitClusterInput(target=target, cluster=self.cluster),
            ClusterState,
            f"wait for {self.cluster} to be ACTIVE",
            wait=True,
        )

        for provider in self.plan.oidc_providers:
            if state.oidc_issuer is None:
                self.wf._update(
                    warnings=[
                        *self.wf._result.warnings,
                        f"cluster {self.cluster} has no OIDC issuer; no OIDC provider associated",
                    ]
                )
                break
            self.wf._update(step="OIDC provider")
            self.found(
                await self.aws(
                    "aws.ensure_oidc_provider",
                    EnsureOidcProviderInput(
                        target=target, issuer=state.oidc_issuer, source=provider
                    ),
                    AwsResource,
                    f"associate an OIDC provider like {provider.url}",
                )
            )

        if self.plan.node_groups:
            self.wf._update(step="node groups")
            groups = await asyncio.gather(
                *(
                    self.aws(
                        "aws.ensure_node_group",
                        EnsureNodeGroupInput(target=target, cluster=self.cluster, node_group=g),
                        AwsResource,
                        f"node group {g.name}",
                        wait=True,
                    )
                    for g in self.plan.node_groups
                )
            )
            self.found(*groups)

        if self.plan.addons:
            self.wf._update(step="add-ons")
            addons = await asyncio.gather(
                *(
                    self.aws(
                        "aws.ensure_addon",
                        EnsureAddonInput(target=target, cluster=self.cluster, addon=a),
                        AwsResource,
                        f"add-on {a.name}",
                    )
                    for a in self.plan.addons
                )
            )
            self.found(*addons)

        for profile in self.plan.fargate_profiles:  # EKS creates one at a time per cluster
            self.wf._update(step=f"Fargate profile {profile.name}")
            self.found(
                await self.aws(
                    "aws.ensure_fargate_profile",
                    EnsureFargateProfileInput(target=target, cluster=self.cluster, profile=profile),
                    AwsResource,
                    f"Fargate profile {profile.name}",
                    wait=True,
                )
            )

    async def survey(self) -> list[AwsResource]:
        existing: list[AwsResource] = await workflow.execute_activity(
            "aws.survey",
            SurveyInput(target=self.target, plan=self.plan),
            result_type=list[AwsResource],
            task_queue=workflow.info().task_queue,
            start_to_close_timeout=policies.AWS_TIMEOUT,
            retry_policy=policies.AWS_RETRY,
            summary="list what the failed restore left in the account",
        )
        return existing

    async def kubernetes(self, target_configured: bool) -> None:
        restore = self.request.kubernetes
        if restore is None:
            self.wf._update(status=EksRestoreStatus.COMPLETED, step=None)
            return
        if not target_configured:
            self.wf._update(
                status=EksRestoreStatus.COMPLETED,
                step=None,
                kubernetes_note=(
                    f"Kubernetes restore skipped: cluster {restore.target_cluster!r} is not "
                    f"configured in Lifeboat. Add EKS cluster {self.cluster} to the "
                    f"configuration as {restore.target_cluster!r}, start its agents, and run "
                    "the restore with that target_cluster."
                ),
            )
            return
        self.wf._update(step=f"Kubernetes restore into {restore.target_cluster}")
        try:
            result: RestoreRunResult = await workflow.execute_child_workflow(
                "Restore",
                restore,
                id=f"{workflow.info().workflow_id}-kubernetes",
                result_type=RestoreRunResult,
                task_queue=workflow.info().task_queue,
                execution_timeout=timedelta(days=2),
            )
        except ChildWorkflowError as err:
            self.wf._update(
                status=EksRestoreStatus.KUBERNETES_FAILED,
                error=_child_failure_reason(err),
            )
            return
        self.wf._update(status=EksRestoreStatus.COMPLETED, step=None, kubernetes=result)


def _child_failure_reason(err: ChildWorkflowError) -> str:
    cause: BaseException | None = err.cause
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    return str(cause or err)
