"""Fixtures for the cluster agent's tests: the stack's `dev` cluster, throwaway namespaces
and workloads whose volumes hold known files."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from activities.kube import rest
from activities.kube.connection import api_client
from devstack.info import ClusterInfo, StackInfo
from lifeboat.models import Cluster

NewNamespace = Callable[..., str]


@dataclass(frozen=True)
class Workload:
    """A pod using a PVC, with files written into the volume where the pod mounts it."""

    namespace: str
    pvc: str
    pv: str
    pod: str
    pod_uid: str
    node: str
    files: dict[str, bytes]


@pytest.fixture(scope="session")
def dev(stack: StackInfo) -> ClusterInfo:
    return stack.clusters["dev"]


@pytest.fixture(scope="session")
def dev_cluster(dev: ClusterInfo) -> Cluster:
    return Cluster(name=dev.name, kubeconfig=str(dev.kubeconfig))


@pytest.fixture(scope="session")
def kube_api(dev_cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(dev_cluster) as api:
        yield api


@pytest.fixture
def new_namespace(kube_api: client.ApiClient) -> Iterator[NewNamespace]:
    """Make namespaces with unique names; all are deleted after the test."""
    made: list[str] = []

    def make(prefix: str = "lbt", labels: dict[str, str] | None = None, exact: bool = False) -> str:
        name = prefix if exact else f"{prefix}-{uuid.uuid4().hex[:6]}"
        body = {"metadata": {"name": name, "labels": labels or {}}}
        rest.request(kube_api, "POST", "/api/v1/namespaces", body=body)
        made.append(name)
        return name

    yield make
    for name in made:
        rest.delete(kube_api, f"/api/v1/namespaces/{name}")


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """The first truthy result of `check`, polled until the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {check}")
        time.sleep(0.1)


def create_claim(
    api: client.ApiClient,
    namespace: str,
    name: str,
    storage_class: str,
    *,
    mode: str = "ReadWriteOnce",
    labels: dict[str, str] | None = None,
) -> None:
    rest.request(
        api,
        "POST",
        f"/api/v1/namespaces/{namespace}/persistentvolumeclaims",
        body={
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "accessModes": [mode],
                "storageClassName": storage_class,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )


def start_pod(
    api: client.ApiClient, namespace: str, name: str, claim: str, node: str | None = None
) -> rest.Obj:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "app",
                "image": "busybox:1.36",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }
    if node is not None:
        spec["nodeName"] = node
    path = f"/api/v1/namespaces/{namespace}/pods"
    rest.request(api, "POST", path, body={"metadata": {"name": name}, "spec": spec})
    pod: rest.Obj = eventually(
        lambda: (
            (found := rest.get(api, f"{path}/{name}"))["status"].get("phase") == "Running" and found
        )
    )
    return pod


def mount_dir(dev: ClusterInfo, node: str, relative_path: str) -> Path:
    pods_dir = next(n.kubelet_pods_dir for n in dev.nodes if n.name == node)
    [found] = pods_dir.glob(relative_path)
    return found


def read_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def make_workload(
    api: client.ApiClient,
    dev: ClusterInfo,
    namespace: str,
    pvc: str,
    storage_class: str,
    *,
    mode: str = "ReadWriteOnce",
    node: str | None = None,
    labels: dict[str, str] | None = None,
) -> Workload:
    """A PVC, a running pod that uses it, and a few files written through the pod's mount."""
    create_claim(api, namespace, pvc, storage_class, mode=mode, labels=labels)
    pod = start_pod(api, namespace, f"app-{pvc}", pvc, node)
    claim = rest.get(api, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{pvc}")
    pv = claim["spec"]["volumeName"]
    node_name = pod["spec"]["nodeName"]
    mount = mount_dir(dev, node_name, f"{pod['metadata']['uid']}/volumes/*/{pv}/mount")
    files = {"hello.txt": f"{namespace}/{pvc}\n".encode(), "sub/data.bin": uuid.uuid4().bytes}
    for rel, content in files.items():
        (mount / rel).parent.mkdir(parents=True, exist_ok=True)
        (mount / rel).write_bytes(content)
    return Workload(
        namespace=namespace,
        pvc=pvc,
        pv=pv,
        pod=pod["metadata"]["name"],
        pod_uid=pod["metadata"]["uid"],
        node=node_name,
        files=files,
    )


# Test modules cannot import this conftest (importlib mode), so the helpers come as fixtures.


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., Any]:
    return eventually


@pytest.fixture
def workload(kube_api: client.ApiClient, dev: ClusterInfo) -> Callable[..., Workload]:
    def make(namespace: str, pvc: str, storage_class: str, **options: Any) -> Workload:
        return make_workload(kube_api, dev, namespace, pvc, storage_class, **options)

    return make


@pytest.fixture
def files_at(dev: ClusterInfo) -> Callable[[str, str], dict[str, bytes]]:
    """The files under a node's kubelet pods dir joined with a relative (glob) path."""

    def read(node: str, relative_path: str) -> dict[str, bytes]:
        return read_files(mount_dir(dev, node, relative_path))

    return read
