"""Fixtures for the emulated cluster's tests: the stack's `dev` cluster and its clients."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

from devstack.info import ClusterInfo, StackInfo
from devstack.kube.faults import clear_faults

T = TypeVar("T")
# The client's loaders and DynamicClient are untyped; its typed APIs want model objects
# where these tests pass manifests as dicts (validated by the client at runtime), so the
# API fixtures are typed Any.
_client_from_config: Callable[..., client.ApiClient] = config.new_client_from_config
_dynamic_client: Callable[..., Any] = dynamic.DynamicClient
Eventually = Callable[..., Any]


@pytest.fixture(scope="session")
def kube(stack: StackInfo) -> ClusterInfo:
    return stack.clusters["dev"]


@pytest.fixture(scope="session")
def api_client(kube: ClusterInfo) -> Iterator[client.ApiClient]:
    with _client_from_config(config_file=str(kube.kubeconfig)) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> Any:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> Any:
    return client.AppsV1Api(api_client)


@pytest.fixture
def custom(api_client: client.ApiClient) -> Any:
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def dyn(api_client: client.ApiClient, tmp_path_factory: pytest.TempPathFactory) -> Any:
    cache = tmp_path_factory.mktemp("discovery") / "cache.json"
    return _dynamic_client(api_client, cache_file=str(cache))


@pytest.fixture
def namespace(core: Any) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (its contents go with it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture
def no_faults(kube: ClusterInfo) -> Iterator[str]:
    """The cluster's API URL; whatever faults a test sets are cleared afterwards."""
    yield kube.api_url
    clear_faults(kube.api_url)


def _eventually(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05) -> T:
    """Poll until `check` returns something truthy without raising AssertionError;
    a real cluster converges asynchronously, so tests never assume it already has."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


@pytest.fixture
def eventually() -> Eventually:
    return _eventually


def volume_mount(kube: ClusterInfo, node: str, pod_uid: str, pv: str) -> Path | None:
    """Where the node agent finds a pod's volume: `<pods-dir>/<uid>/volumes/*/<pv>/mount`."""
    pods_dir = next(n.kubelet_pods_dir for n in kube.nodes if n.name == node)
    found = list(pods_dir.glob(f"{pod_uid}/volumes/*/{pv}/mount"))
    return found[0] if found else None


@pytest.fixture
def mount_of(kube: ClusterInfo) -> Callable[[str, str, str], Path | None]:
    return lambda node, uid, pv: volume_mount(kube, node, uid, pv)


def pod_manifest(name: str, *, claim: str | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}], **spec},
    }
    if claim:
        body["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return body


def pvc_manifest(name: str, storage_class: str, mode: str = "ReadWriteOnce") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "accessModes": [mode],
            "storageClassName": storage_class,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }


@pytest.fixture
def manifests() -> Any:
    """Small manifest builders, shared by the test modules."""

    class Manifests:
        pod = staticmethod(pod_manifest)
        pvc = staticmethod(pvc_manifest)

    return Manifests
