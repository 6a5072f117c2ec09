"""Migration and replication against the real stack: cluster dev into cluster dev2.

A migration is one run (a Backup child, then a Restore child); a replication is a Temporal
Schedule of migrations whose second run copies only changed data, updates a changed
ConfigMap, replaces the volume's data and (opted in) removes a deleted ConfigMap.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from pydantic import ValidationError
from temporalio.client import ScheduleActionExecutionStartWorkflow
from temporalio.worker import Worker

from activities.aws.activities import AwsActivities
from activities.catalog import CatalogActivities
from devstack.eks_seed import SeededEks, seed_eks_cluster
from devstack.info import StackInfo
from devstack.kube.seed import volume_digest
from lifeboat.client import LifeboatClient
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.migration import (
    MigrationPhase,
    MigrationRequest,
    MigrationResult,
    MigrationStatus,
    ReplicationPolicy,
)
from lifeboat.contracts.restore import RestoreOutcome
from lifeboat.contracts.restore_run import VolumeRestoreOutcome
from lifeboat.models import BackupMethod
from lifeboat.replication import ReplicationService
from lifeboat.schedules import ScheduledJobNotFoundError
from workflows.backup import BackupWorkflow
from workflows.eks_restore import EksRestoreWorkflow
from workflows.migration import MigrationWorkflow
from workflows.restore import RestoreWorkflow

ONCE_A_YEAR = {"cron": "0 3 1 1 *"}
"""Runs only when triggered, in practice."""


def configmap(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{name}"


async def test_a_migration_backs_up_and_restores_into_the_other_cluster(
    lifeboat: LifeboatClient, apps: Any, volume_spec: Any, kube: Any, replay: Any
) -> None:
    source = apps.make("wf-mig", [volume_spec("data", "csi-nosnap")])
    target = apps.namespace("dev2", "wf-mig-copy")
    run = await lifeboat.start_migration(
        MigrationRequest.model_validate(
            {
                "source_cluster": "dev",
                "target_cluster": "dev2",
                "selection": {"include_namespaces": [source.namespace]},
                "restore": {
                    "namespace_mapping": {source.namespace: target},
                    "storage_class_mapping": {"csi-nosnap": "nfs"},
                },
            }
        )
    )
    result = await run.result()

    assert result.status is MigrationStatus.COMPLETED, result
    point = result.recovery_point
    assert point.cluster == "dev"
    assert point.id in {p.id for p in await lifeboat.list_recovery_points(cluster="dev")}
    assert result.restore.target_cluster == "dev2"
    # The restore options applied: the namespace and the storage class are the mapped ones.
    assert kube.get("dev2", configmap(target, "settings"))["data"] == {"color": "blue"}
    [claim] = kube.items("dev2", f"/api/v1/namespaces/{target}/persistentvolumeclaims")
    assert claim["spec"]["storageClassName"] == "nfs"
    assert kube.volume_digests("dev2", target) == {"data": source.volumes["data"].digest}
    progress = await run.progress()
    assert progress.phase is MigrationPhase.DONE
    assert progress.children == {
        "Backup": f"backup-{run.workflow_id}",
        "Restore": f"restore-{point.id}",
    }
    await replay(
        "migration", await lifeboat.temporal.get_workflow_handle(run.workflow_id).fetch_history()
    )


def test_a_migration_onto_its_own_source_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match=r"target_cluster[\s\S]*is the source cluster"):
        MigrationRequest(source_cluster="dev", target_cluster="dev")
    with pytest.raises(ValidationError, match=r"delete_removed[\s\S]*needs replication"):
        MigrationRequest(source_cluster="dev", target_cluster="dev2", delete_removed=True)


@pytest_asyncio.fixture(loop_scope="session")
async def replications(lifeboat: LifeboatClient) -> AsyncIterator[ReplicationService]:
    service = ReplicationService(lifeboat)
    before = set(await service.names())
    yield service
    for name in set(await service.names()) - before:
        with contextlib.suppress(ScheduledJobNotFoundError):
            await service.delete(name)


async def scheduled_run(
    lifeboat: LifeboatClient, service: ReplicationService, name: str, runs_before: int
) -> MigrationResult:
    """Trigger the replication through its schedule and wait for the run it starts."""
    await service.trigger_scheduled(name)
    handle = lifeboat.temporal.get_schedule_handle(service.kind.schedule_id(name))
    for _ in range(100):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > runs_before:
            action = actions[-1].action
            assert isinstance(action, ScheduleActionExecutionStartWorkflow)
            raw = await lifeboat.temporal.get_workflow_handle(action.workflow_id).result()
            return MigrationResult.model_validate(raw)
        await asyncio.sleep(0.3)
    raise AssertionError(f"replication {name} started no run")


async def test_replication_keeps_the_target_in_step(
    lifeboat: LifeboatClient,
    apps: Any,
    volume_spec: Any,
    kube: Any,
    replications: ReplicationService,
) -> None:
    source = apps.make("wf-repl", [volume_spec("data", "csi-nosnap")])
    ns = source.namespace
    apps.namespaces.append(("dev2", ns))
    kube.post("dev", f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "retired"}})
    name = f"t-{uuid.uuid4().hex[:10]}"
    await replications.create(
        ReplicationPolicy.model_validate(
            {
                "name": name,
                "source_cluster": "dev",
                "target_cluster": "dev2",
                "selection": {"include_namespaces": [ns]},
                "schedule": ONCE_A_YEAR,
                "delete_removed": True,
            }
        )
    )
    first = await scheduled_run(lifeboat, replications, name, runs_before=0)
    assert first.status is MigrationStatus.COMPLETED, first
    assert kube.find("dev2", configmap(ns, "retired")) is not None
    assert kube.volume_digests("dev2", ns) == {"data": source.volumes["data"].digest}

    # The source changes: a setting, a retired ConfigMap, one file of the volume.
    kube.merge_patch("dev", configmap(ns, "settings"), {"data": {"color": "green"}})
    kube.delete("dev", configmap(ns, "retired"))
    disk = source.volumes["data"].disk
    changed = next(p for p in sorted(disk.rglob("*")) if p.is_file())
    changed.write_bytes(b"changed at the source\n" * 100)

    second = await scheduled_run(lifeboat, replications, name, runs_before=1)
    assert second.status is MigrationStatus.COMPLETED, second
    [copied] = second.recovery_point.volumes
    assert copied.method is BackupMethod.HOST_VOLUME
    # Incremental: only the changed file was read and uploaded again.
    assert copied.bytes_read == changed.stat().st_size
    [first_copy] = first.recovery_point.volumes
    assert copied.bytes_uploaded < first_copy.bytes_uploaded
    # Changed objects updated, the volume's data replaced, the retired ConfigMap removed.
    [settings] = [o for o in second.restore.objects if o.ref == f"configmaps/{ns}/settings"]
    assert settings.outcome is RestoreOutcome.UPDATED
    assert kube.get("dev2", configmap(ns, "settings"))["data"] == {"color": "green"}
    [volume] = second.restore.volumes
    assert volume.outcome is VolumeRestoreOutcome.RESTORED
    assert kube.volume_digests("dev2", ns) == {"data": volume_digest(disk)}
    assert second.pruned.removed == [f"configmaps/{ns}/retired"]
    assert kube.find("dev2", configmap(ns, "retired")) is None
    # Only what this replication restored is ever removed.
    assert kube.find("dev2", f"/api/v1/namespaces/{ns}") is not None


@pytest_asyncio.fixture(loop_scope="session")
async def linked_control_worker(
    lifeboat: LifeboatClient,
    config: LifeboatConfig,
    aws_credentials: StackInfo,
    moto_client: Callable[[str], Any],
) -> AsyncIterator[tuple[str, SeededEks]]:
    """A control worker of the test's own, whose configuration links cluster dev to an EKS
    cluster seeded in moto; the cluster and node agents are the stack's."""
    seeded = seed_eks_cluster(moto_client("iam"), moto_client("eks"))
    dev = config.clusters["dev"].model_copy(update={"aws": seeded.link})
    linked = config.model_copy(update={"clusters": {**config.clusters, "dev": dev}})
    queue = f"linked-control-{uuid.uuid4().hex[:6]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            lifeboat.temporal,
            task_queue=queue,
            workflows=[MigrationWorkflow, BackupWorkflow, RestoreWorkflow, EksRestoreWorkflow],
            activities=[*AwsActivities(linked).all(), *CatalogActivities(linked).all()],
            activity_executor=executor,
        ):
            yield queue, seeded


async def test_a_migration_into_a_new_eks_cluster_creates_it_first(
    lifeboat: LifeboatClient,
    linked_control_worker: tuple[str, SeededEks],
    apps: Any,
    kube: Any,
    moto_client: Callable[[str], Any],
) -> None:
    """dev2 stands in for the new EKS cluster as configured in Lifeboat once created."""
    queue, seeded = linked_control_worker
    source = apps.make("wf-mig-eks", [])
    apps.namespaces.append(("dev2", source.namespace))
    new = f"copy-{uuid.uuid4().hex[:6]}"
    request = MigrationRequest.model_validate(
        {
            "source_cluster": "dev",
            "target_cluster": "dev2",
            "selection": {"include_namespaces": [source.namespace]},
            "new_eks_cluster": {
                "cluster_name": new,
                "node_groups": {"spot": {"restore": False}},
                "fargate_profiles": {"batch": {"restore": False}},
            },
        }
    )
    raw = await lifeboat.temporal.execute_workflow(
        "Migration",
        request.model_dump(mode="json"),
        id=f"migrate-eks-{new}",
        task_queue=queue,
        execution_timeout=timedelta(minutes=3),
    )
    result = MigrationResult.model_validate(raw)

    assert result.status is MigrationStatus.COMPLETED, result
    assert result.recovery_point.aws_snapshot_id is not None  # the source's AWS configuration
    assert result.eks_restore is not None
    assert result.eks_restore.cluster_name == new
    eks = moto_client("eks")
    assert eks.describe_cluster(name=new)["cluster"]["status"] == "ACTIVE"
    assert eks.list_nodegroups(clusterName=new)["nodegroups"] == ["general"]
    assert eks.list_fargate_profiles(clusterName=new)["fargateProfileNames"] == ["serverless"]
    role = moto_client("iam").get_role(RoleName=f"{seeded.name}-cluster-{new}")["Role"]
    assert eks.describe_cluster(name=new)["cluster"]["roleArn"] == role["Arn"]
    assert result.restore.target_cluster == "dev2"
    restored = kube.get("dev2", configmap(source.namespace, "settings"))
    assert restored["data"] == {"color": "blue"}


async def test_a_replication_into_a_new_eks_cluster_finds_it_on_its_next_run(
    lifeboat: LifeboatClient,
    linked_control_worker: tuple[str, SeededEks],
    apps: Any,
    kube: Any,
) -> None:
    queue, _ = linked_control_worker
    source = apps.make("wf-repl-eks", [])
    apps.namespaces.append(("dev2", source.namespace))
    new = f"standby-{uuid.uuid4().hex[:6]}"
    policy = ReplicationPolicy.model_validate(
        {
            "name": new,
            "source_cluster": "dev",
            "target_cluster": "dev2",
            "selection": {"include_namespaces": [source.namespace]},
            "schedule": ONCE_A_YEAR,
            "new_eks_cluster": {"cluster_name": new},
        }
    )
    results = []
    for run in range(2):
        raw = await lifeboat.temporal.execute_workflow(
            "Migration",
            policy.to_request().model_dump(mode="json"),
            id=f"replicate-{new}-{run}",
            task_queue=queue,
            execution_timeout=timedelta(minutes=3),
        )
        results.append(MigrationResult.model_validate(raw))
        kube.merge_patch("dev", configmap(source.namespace, "settings"), {"data": {"run": "2"}})

    first, second = (r.eks_restore for r in results)
    assert first is not None and second is not None
    assert all(r.status is MigrationStatus.COMPLETED for r in results), results
    assert {r.name for r in first.resources if r.created} >= {new}
    # The second run created nothing: it found what the first made, by the replication's tag.
    assert [r.name for r in second.resources if r.created] == []
    assert {r.name for r in second.resources} == {r.name for r in first.resources}
    settings = kube.get("dev2", configmap(source.namespace, "settings"))
    assert settings["data"] == {"color": "blue", "run": "2"}
