"""EksRestoreWorkflow end to end against moto: a backed-up EKS cluster becomes a new one,
and a failure after partial creation reports exactly what exists.

The workflow and the AWS activities run on an in-test worker with a queue of their own, so
the test exercises this code whatever the stack's control worker runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import WorkflowFailureError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.aws.activities import AwsActivities
from activities.catalog import CatalogActivities
from devstack.eks_seed import SeededEks, seed_eks_cluster
from devstack.info import StackInfo
from lifeboat.client import LifeboatClient
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.aws import (
    CaptureEksInput,
    EksRestoreRequest,
    EksRestoreResult,
    EksRestoreStatus,
    ResourceKind,
)
from lifeboat.contracts.catalog import RecordInput
from lifeboat.models import BackupRequest, RecoveryPoint, RecoveryPointStatus
from workflows.eks_restore import EksRestoreWorkflow
from workflows.restore import RestoreWorkflow

BackedUp = Callable[..., tuple[SeededEks, str]]


@pytest.fixture
def backed_up(
    config: LifeboatConfig, aws_credentials: StackInfo, moto_client: Callable[[str], Any]
) -> BackedUp:
    """Seeds an EKS cluster and records a recovery point holding its AWS capture (and the
    Kubernetes objects of `base`, when given)."""

    def make(base: RecoveryPoint | None = None) -> tuple[SeededEks, str]:
        seeded = seed_eks_cluster(moto_client("iam"), moto_client("eks"))
        location = config.storage_locations["default"]
        rp_id = f"{base.id}-eks" if base else f"eks-{seeded.name}"
        captured = ActivityEnvironment().run(
            AwsActivities(config).capture_eks,
            CaptureEksInput(
                aws=seeded.link, storage_location=location, recovery_point=rp_id, cluster="dev"
            ),
        )
        now = datetime.now(UTC)
        point = RecoveryPoint(
            id=rp_id,
            cluster="dev",
            storage_location="default",
            created_at=now,
            completed_at=now,
            expires_at=now + timedelta(days=1),
            status=RecoveryPointStatus.COMPLETED,
            aws_snapshot_id=captured.snapshot_id,
            resource_snapshot_id=base.resource_snapshot_id if base else None,
        )
        CatalogActivities(config).record(
            RecordInput(storage_location=location, recovery_point=point)
        )
        return seeded, rp_id

    return make


@pytest_asyncio.fixture(loop_scope="session")
async def eks_worker(
    lifeboat: LifeboatClient, config: LifeboatConfig, aws_credentials: StackInfo
) -> AsyncIterator[str]:
    queue = f"eks-restore-test-{uuid.uuid4().hex[:6]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            lifeboat.temporal,
            task_queue=queue,
            workflows=[EksRestoreWorkflow, RestoreWorkflow],
            activities=[*AwsActivities(config).all(), *CatalogActivities(config).all()],
            activity_executor=executor,
        ):
            yield queue


async def _run(
    lifeboat: LifeboatClient, queue: str, request: EksRestoreRequest
) -> EksRestoreResult:
    result: EksRestoreResult = await lifeboat.temporal.execute_workflow(
        "EksRestore",
        request,
        id=f"eks-restore-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=EksRestoreResult,
        execution_timeout=timedelta(minutes=2),
    )
    return result


async def test_restore_creates_the_cluster_and_notes_an_unconfigured_kubernetes_target(
    moto_client: Callable[[str], Any],
    lifeboat: LifeboatClient,
    eks_worker: str,
    backed_up: BackedUp,
) -> None:
    seeded, rp_id = backed_up()
    new = f"copy-{uuid.uuid4().hex[:6]}"
    request = EksRestoreRequest.model_validate(
        {
            "recovery_point": rp_id,
            "cluster_name": new,
            "node_groups": {"spot": {"restore": False}},
            "fargate_profiles": {"batch": {"restore": False}},
            "kubernetes": {"recovery_point": rp_id, "target_cluster": "not-configured"},
        }
    )

    result = await _run(lifeboat, eks_worker, request)

    assert result.status is EksRestoreStatus.COMPLETED, result.error
    made = {(r.kind, r.name) for r in result.resources if r.created}
    assert {
        (ResourceKind.CLUSTER, new),
        (ResourceKind.NODE_GROUP, "general"),
        (ResourceKind.FARGATE_PROFILE, "serverless"),
        (ResourceKind.IAM_ROLE, f"{seeded.name}-cluster-{new}"),
        (ResourceKind.IAM_ROLE, f"{seeded.name}-node-{new}"),
        (ResourceKind.IAM_ROLE, f"{seeded.name}-fargate-{new}"),
    } <= made
    assert result.kubernetes is None
    assert result.kubernetes_note is not None
    assert "'not-configured' is not configured" in result.kubernetes_note
    assert any("trusted principals" in w for w in result.warnings)
    eks = moto_client("eks")
    assert eks.list_nodegroups(clusterName=new)["nodegroups"] == ["general"]
    assert eks.list_fargate_profiles(clusterName=new)["fargateProfileNames"] == ["serverless"]


async def test_the_kubernetes_restore_runs_into_the_new_cluster_once_configured(
    lifeboat: LifeboatClient,
    config: LifeboatConfig,
    eks_worker: str,
    backed_up: BackedUp,
    apps: Any,
    kube: Any,
) -> None:
    """dev2 stands in for the new EKS cluster, as configured in Lifeboat after its creation."""
    app = apps.make("eks-k8s", [])
    backup = await lifeboat.start_backup(
        BackupRequest(cluster="dev", selection={"include_namespaces": [app.namespace]})
    )
    point: RecoveryPoint = await backup.result()
    _, rp_id = backed_up(point)  # the Kubernetes objects of `point`, with an EKS capture
    target_ns = apps.namespace("dev2", "eks-k8s-copy")
    new = f"copy-{uuid.uuid4().hex[:6]}"
    request = EksRestoreRequest.model_validate(
        {
            "recovery_point": rp_id,
            "cluster_name": new,
            "kubernetes": {
                "recovery_point": rp_id,
                "target_cluster": "dev2",
                "namespace_mapping": {app.namespace: target_ns},
                "restore_pv_data": False,
            },
        }
    )

    result = await _run(lifeboat, eks_worker, request)

    assert result.status is EksRestoreStatus.COMPLETED, result.error
    assert result.kubernetes is not None
    assert result.kubernetes.target_cluster == "dev2"
    restored = kube.get("dev2", f"/api/v1/namespaces/{target_ns}/configmaps/settings")
    assert restored["data"] == {"color": "blue"}
    assert (ResourceKind.CLUSTER, new) in {(r.kind, r.name) for r in result.resources}


async def test_a_failed_step_reports_what_exists(
    lifeboat: LifeboatClient,
    eks_worker: str,
    backed_up: BackedUp,
) -> None:
    seeded, rp_id = backed_up()
    # The backed-up cluster still exists: its name is taken, after the roles were created.
    request = EksRestoreRequest(recovery_point=rp_id, cluster_name=seeded.name)

    result = await _run(lifeboat, eks_worker, request)

    assert result.status is EksRestoreStatus.FAILED
    assert result.step == f"cluster {seeded.name}"
    assert result.error is not None
    assert "already exists and was not created by this restore" in result.error
    assert result.existing is not None
    existing = {(r.kind, r.name, r.created) for r in result.existing}
    assert (ResourceKind.IAM_ROLE, f"{seeded.name}-cluster-{seeded.name}", True) in existing
    assert (ResourceKind.CLUSTER, seeded.name, False) in existing  # someone else's


async def test_a_request_that_does_not_fit_the_backup_fails_at_once(
    lifeboat: LifeboatClient,
    eks_worker: str,
    backed_up: BackedUp,
) -> None:
    _, rp_id = backed_up()
    request = EksRestoreRequest.model_validate(
        {"recovery_point": rp_id, "cluster_name": "x", "node_groups": {"nope": {}}}
    )
    with pytest.raises(WorkflowFailureError) as raised:
        await _run(lifeboat, eks_worker, request)
    assert "node_groups: the backup has no 'nope'" in str(raised.value.cause)
