"""A restored claim exposed read-write through a mounter pod, before its workload starts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from activities.kube import rest
from activities.kube.connection import api_client
from activities.kube.export import export_resources
from activities.kube.inventory import local_node
from activities.kube.restore_apply import restore_resources
from activities.kube.restore_volume import expose_restore_volume, release_restore_volume
from devstack.info import StackInfo
from lifeboat.contracts.restore import (
    STAGES_AFTER_DATA,
    STAGES_BEFORE_DATA,
    ExposeRestoreVolumeInput,
    ReleaseRestoreVolumeInput,
    RestoreOutcome,
    RestoreResourcesInput,
)
from lifeboat.models import Cluster, ResourceSelection, RestoreRequest


def _wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not true after {timeout} s"
        time.sleep(0.1)
    return result


def _client(stack: StackInfo, name: str) -> client.ApiClient:
    return api_client(Cluster(name=name, kubeconfig=str(stack.clusters[name].kubeconfig)))


@pytest.fixture
def exported_app(stack: StackInfo, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A namespace in `dev` with a claim on `csi-snap` and a Deployment using it, exported."""
    namespace = f"rvsrc-{uuid.uuid4().hex[:6]}"
    labels = {"app": "files"}
    with _client(stack, "dev") as api:
        rest.request(api, "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
        rest.request(
            api,
            "POST",
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
            body={
                "metadata": {"name": "files"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "csi-snap",
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        container = {
            "name": "app",
            "image": "busybox:1.36",
            "volumeMounts": [{"name": "data", "mountPath": "/srv"}],
        }
        rest.request(
            api,
            "POST",
            f"/apis/apps/v1/namespaces/{namespace}/deployments",
            body={
                "metadata": {"name": "files", "labels": labels},
                "spec": {
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [container],
                            "volumes": [
                                {"name": "data", "persistentVolumeClaim": {"claimName": "files"}}
                            ],
                        },
                    },
                },
            },
        )
        export_resources(api, ResourceSelection(include_namespaces=[namespace]), tmp_path)
        yield namespace, tmp_path
        rest.delete(api, f"/api/v1/namespaces/{namespace}")


def test_restored_claim_is_written_through_a_mounter_pod_before_its_workload_starts(
    stack: StackInfo, exported_app: tuple[str, Path]
) -> None:
    source_namespace, export_dir = exported_app
    target = f"rvdst-{uuid.uuid4().hex[:6]}"
    run_id = f"run-{uuid.uuid4().hex[:6]}"
    request = RestoreRequest(
        recovery_point="rp-volume-test",
        namespace_mapping={source_namespace: target},
        storage_class_mapping={"csi-snap": "local"},
    )
    dev2 = stack.clusters["dev2"]
    with _client(stack, "dev2") as api:
        try:
            storage = restore_resources(
                api,
                RestoreResourcesInput(
                    run_id=run_id,
                    request=request,
                    resources_dir=str(export_dir),
                    stages=STAGES_BEFORE_DATA,
                ),
            )
            assert [(c.namespace, c.name, c.storage_class) for c in storage.claims] == [
                (target, "files", "local")
            ]
            assert rest.find(api, f"/apis/apps/v1/namespaces/{target}/deployments/files") is None

            exposure = expose_restore_volume(
                api, ExposeRestoreVolumeInput(run_id=run_id, namespace=target, claim="files")
            )

            again = expose_restore_volume(
                api, ExposeRestoreVolumeInput(run_id=run_id, namespace=target, claim="files")
            )
            assert again == exposure  # a retried exposure finds its pod
            pv = rest.get(api, f"/api/v1/persistentvolumes/{exposure.pv_name}")
            assert exposure.node == local_node(pv)
            assert exposure.relative_path == (
                f"{exposure.pod_uid}/volumes/kubernetes.io~local-volume/{exposure.pv_name}/mount"
            )
            pods_dir = next(n.kubelet_pods_dir for n in dev2.nodes if n.name == exposure.node)
            mount = pods_dir / exposure.relative_path
            assert mount.is_dir()
            (mount / "restored.txt").write_bytes(b"from the recovery point\n")
            [ref] = exposure.created
            pod = rest.get(api, f"/api/v1/namespaces/{target}/pods/{ref.name}")
            assert pod["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "lifeboat"
            assert pod["metadata"]["labels"]["lifeboat.io/run"] == run_id
            assert not pod["spec"]["containers"][0]["volumeMounts"][0]["readOnly"]

            release = ReleaseRestoreVolumeInput(run_id=run_id, namespace=target, claim="files")
            release_restore_volume(api, release)
            release_restore_volume(api, release)  # idempotent
            assert rest.find(api, f"/api/v1/namespaces/{target}/pods/{ref.name}") is None

            rest_of_it = restore_resources(
                api,
                RestoreResourcesInput(
                    run_id=run_id,
                    request=request,
                    resources_dir=str(export_dir),
                    stages=STAGES_AFTER_DATA,
                ),
            )
            deployment = next(r for r in rest_of_it.objects if r.resource == "deployments.apps")
            assert deployment.outcome == RestoreOutcome.CREATED
            app_pod = _wait(
                lambda: next(
                    (
                        p
                        for p in rest.list_items(api, f"/api/v1/namespaces/{target}/pods")
                        if (p.get("status") or {}).get("phase") == "Running"
                    ),
                    None,
                )
            )
            assert app_pod["spec"]["nodeName"] == exposure.node
            app_mount = pods_dir.glob(
                f"{app_pod['metadata']['uid']}/volumes/*/{exposure.pv_name}/mount"
            )
            assert (next(app_mount) / "restored.txt").read_bytes() == b"from the recovery point\n"
        finally:
            rest.delete(api, f"/api/v1/namespaces/{target}")
