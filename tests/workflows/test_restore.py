"""RestoreWorkflow against the real stack: into another namespace, into another cluster
with a storage class mapping, and over existing objects (policy skip vs update)."""

from __future__ import annotations

from typing import Any

import pytest_asyncio
from temporalio.client import WorkflowHistory

from devstack.info import StackInfo
from lifeboat.client import LifeboatClient
from lifeboat.contracts.restore import RestoreOutcome
from lifeboat.contracts.restore_run import RestoreRunResult, RestoreStatus, VolumeRestoreOutcome
from lifeboat.models import RestoreRequest


async def restore(lifeboat: LifeboatClient, **request: Any) -> RestoreRunResult:
    run = await lifeboat.start_restore(RestoreRequest.model_validate(request))
    return await run.result()


def outcome_of(result: RestoreRunResult, kind: str, name: str) -> RestoreOutcome:
    [found] = [o for o in result.objects if (o.kind, o.name) == (kind, name)]
    return found.outcome


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def copy_namespace(
    lifeboat: LifeboatClient, default_backup: Any, app: Any, apps: Any
) -> tuple[str, RestoreRunResult, WorkflowHistory]:
    """The shared application restored into a new namespace of its own cluster."""
    target = apps.namespace("dev", "wf-copy")
    request = RestoreRequest(
        recovery_point=default_backup.result.id,
        selection={"include_namespaces": [app.namespace]},
        namespace_mapping={app.namespace: target},
    )
    run = await lifeboat.start_restore(request)
    result = await run.result()
    history = await lifeboat.temporal.get_workflow_handle(run.workflow_id).fetch_history()
    return target, result, history


async def test_restore_into_another_namespace_brings_back_every_byte(
    copy_namespace: tuple[str, RestoreRunResult, WorkflowHistory],
    app: Any,
    kube: Any,
    stack: StackInfo,
) -> None:
    target, result, _ = copy_namespace
    assert result.status is RestoreStatus.COMPLETED, result
    assert {v.pvc: v.outcome for v in result.volumes} == dict.fromkeys(
        app.volumes, VolumeRestoreOutcome.RESTORED
    )
    assert all(
        v.namespace == target and v.source_namespace == app.namespace for v in result.volumes
    )
    assert kube.volume_digests("dev", target) == {pvc: v.digest for pvc, v in app.volumes.items()}
    settings = kube.get("dev", f"/api/v1/namespaces/{target}/configmaps/settings")
    assert settings["data"] == {"color": "blue"}
    assert outcome_of(result, "ConfigMap", "settings") is RestoreOutcome.CREATED
    assert kube.managed_objects("dev") == []


async def test_existing_objects_are_skipped_or_updated_as_the_policy_says(
    copy_namespace: tuple[str, RestoreRunResult, WorkflowHistory],
    lifeboat: LifeboatClient,
    default_backup: Any,
    app: Any,
    kube: Any,
) -> None:
    target, _, _ = copy_namespace
    settings = f"/api/v1/namespaces/{target}/configmaps/settings"
    kube.merge_patch("dev", settings, {"data": {"color": "red"}})
    common = {
        "recovery_point": default_backup.result.id,
        "selection": {"include_namespaces": [app.namespace]},
        "namespace_mapping": {app.namespace: target},
    }

    skipped = await restore(lifeboat, **common)
    assert outcome_of(skipped, "ConfigMap", "settings") is RestoreOutcome.SKIPPED
    assert outcome_of(skipped, "PersistentVolumeClaim", "snap") is RestoreOutcome.SKIPPED
    assert kube.get("dev", settings)["data"] == {"color": "red"}
    # Existing claims keep their data: nothing is written into a volume in use.
    assert all(v.outcome is not VolumeRestoreOutcome.RESTORED for v in skipped.volumes)

    updated = await restore(lifeboat, existing_resource_policy="update", **common)
    assert outcome_of(updated, "ConfigMap", "settings") is RestoreOutcome.UPDATED
    assert kube.get("dev", settings)["data"] == {"color": "blue"}


async def test_restore_into_another_cluster_maps_storage_classes(
    lifeboat: LifeboatClient,
    default_backup: Any,
    app: Any,
    apps: Any,
    kube: Any,
    stack: StackInfo,
) -> None:
    apps.namespaces.append(("dev2", app.namespace))
    mapping = {"csi-snap": "csi-nosnap", "local": "nfs"}
    result = await restore(
        lifeboat,
        recovery_point=default_backup.result.id,
        target_cluster="dev2",
        selection={"include_namespaces": [app.namespace]},
        storage_class_mapping=mapping,
    )
    assert result.status is RestoreStatus.COMPLETED, result
    assert result.target_cluster == "dev2"
    claims = kube.items("dev2", f"/api/v1/namespaces/{app.namespace}/persistentvolumeclaims")
    assert {c["metadata"]["name"]: c["spec"]["storageClassName"] for c in claims} == {
        pvc: mapping.get(v.storage_class, v.storage_class) for pvc, v in app.volumes.items()
    }
    assert kube.volume_digests("dev2", app.namespace) == {
        pvc: v.digest for pvc, v in app.volumes.items()
    }
    assert kube.managed_objects("dev2") == []


async def test_the_restore_history_replays(
    copy_namespace: tuple[str, RestoreRunResult, WorkflowHistory], replay: Any
) -> None:
    await replay("restore", copy_namespace[2])
