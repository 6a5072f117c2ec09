"""Fixtures for the workflow tests: the real stack with its agents, a Lifeboat client, and
throwaway applications whose volumes hold known files.

Test modules cannot import this conftest (importlib mode), so helpers come as fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes import client
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import workflows
from activities.kube import rest
from activities.kube.connection import api_client
from activities.repository import open_repository
from datamover.api import RestoreOptions, restore
from devstack.info import ClusterInfo, StackInfo
from devstack.kube.layout import volume_data_dir
from devstack.kube.seed import generate_files, volume_digest
from lifeboat.client import LifeboatClient, Run
from lifeboat.config import LifeboatConfig, load_config
from lifeboat.contracts.kube import MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL
from lifeboat.models import BackupRequest, Cluster

Fill = Callable[[Path], None]


@dataclass(frozen=True)
class RecordedRun:
    """A finished run's result and its event history (for the replay test)."""

    result: Any
    history: WorkflowHistory


SNAPSHOTS_API = "/apis/snapshot.storage.k8s.io/v1"


@dataclass(frozen=True)
class VolumeSpec:
    """A PVC of a test application. With `pod`, a pod keeps it mounted (so `host_volume`
    can read it); without, the files are written by a pod that is deleted afterwards."""

    pvc: str
    storage_class: str
    pod: bool = True
    mode: str = "ReadWriteOnce"
    fill: Fill | None = None
    """Writes the volume's files; by default a few hundred KB of mixed files."""


@dataclass(frozen=True)
class AppVolume:
    namespace: str
    pvc: str
    pv: str
    storage_class: str
    pod: str | None
    node: str | None
    disk: Path
    """The volume's data as the kubelet mounts it (the emulated disk)."""
    digest: str


@dataclass(frozen=True)
class App:
    """A namespace with a ConfigMap, and PVCs with known files."""

    cluster: str
    namespace: str
    volumes: dict[str, AppVolume] = field(default_factory=dict)


def eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """The first truthy result of `check`, polled until the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout} s: {what or check}")
        time.sleep(0.1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def small_files(seed: str) -> Fill:
    """A few hundred KB in nested directories plus an empty one, as the sample app has."""

    def fill(root: Path) -> None:
        for rel, content in generate_files(seed).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
        (root / "empty").mkdir(exist_ok=True)

    return fill


class Kube:
    """The test's own access to the emulated clusters, through the agents' REST helper."""

    def __init__(self, stack: StackInfo) -> None:
        self.stack = stack
        self._apis: dict[str, client.ApiClient] = {}

    def api(self, cluster: str) -> client.ApiClient:
        if cluster not in self._apis:
            info = self.stack.clusters[cluster]
            model = Cluster(name=cluster, kubeconfig=str(info.kubeconfig))
            self._apis[cluster] = api_client(model)
        return self._apis[cluster]

    def close(self) -> None:
        for api in self._apis.values():
            api.close()  # type: ignore[no-untyped-call]

    def info(self, cluster: str) -> ClusterInfo:
        return self.stack.clusters[cluster]

    def get(self, cluster: str, path: str) -> rest.Obj:
        return rest.get(self.api(cluster), path)

    def find(self, cluster: str, path: str) -> rest.Obj | None:
        return rest.find(self.api(cluster), path)

    def items(self, cluster: str, path: str, selector: str | None = None) -> list[rest.Obj]:
        body = rest.get(self.api(cluster), path, labelSelector=selector)
        return list(body.get("items") or [])

    def post(self, cluster: str, path: str, body: rest.Obj) -> rest.Obj:
        return rest.request(self.api(cluster), "POST", path, body=body)

    def merge_patch(self, cluster: str, path: str, patch: rest.Obj) -> rest.Obj:
        return rest.merge_patch(self.api(cluster), path, patch)

    def delete(self, cluster: str, path: str) -> None:
        rest.delete(self.api(cluster), path)

    def volume_digests(self, cluster: str, namespace: str) -> dict[str, str]:
        """Each PVC's data, read from the disk its PV was provisioned on."""
        claims = self.items(cluster, f"/api/v1/namespaces/{namespace}/persistentvolumeclaims")
        state_dir = self.stack.clusters[cluster].state_dir
        return {
            c["metadata"]["name"]: volume_digest(
                volume_data_dir(state_dir, c["spec"]["volumeName"])
            )
            for c in claims
        }

    def run_objects(self, cluster: str, run_id: str) -> list[str]:
        """Pods, PVCs and VolumeSnapshots a run created and that still exist."""
        selector = f"{RUN_LABEL}={run_id},{MANAGED_BY_LABEL}={MANAGED_BY}"
        found = []
        for kind, path in (
            ("Pod", "/api/v1/pods"),
            ("PersistentVolumeClaim", "/api/v1/persistentvolumeclaims"),
            ("VolumeSnapshot", f"{SNAPSHOTS_API}/volumesnapshots"),
        ):
            for obj in self.items(cluster, path, selector):
                meta = obj["metadata"]
                found.append(f"{kind} {meta.get('namespace')}/{meta['name']}")
        return found

    def managed_objects(self, cluster: str) -> list[str]:
        """Everything Lifeboat created in a cluster and that still exists."""
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        return [
            f"{path} {o['metadata'].get('namespace')}/{o['metadata']['name']}"
            for path in (
                "/api/v1/pods",
                "/api/v1/persistentvolumeclaims",
                f"{SNAPSHOTS_API}/volumesnapshots",
            )
            for o in self.items(cluster, path, selector)
        ]


class Apps:
    """Makes test applications in unique namespaces and deletes every namespace it made or
    was told about (restore targets) at the end."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.namespaces: list[tuple[str, str]] = []

    def namespace(self, cluster: str, prefix: str) -> str:
        """A fresh namespace name, deleted at the end whether or not anything creates it."""
        name = unique(prefix)
        self.namespaces.append((cluster, name))
        return name

    def make(self, prefix: str, volumes: Sequence[VolumeSpec], cluster: str = "dev") -> App:
        ns = self.namespace(cluster, prefix)
        self.kube.post(cluster, "/api/v1/namespaces", {"metadata": {"name": ns}})
        self.kube.post(
            cluster,
            f"/api/v1/namespaces/{ns}/configmaps",
            {"metadata": {"name": "settings"}, "data": {"color": "blue"}},
        )
        app = App(cluster=cluster, namespace=ns)
        for spec in volumes:
            app.volumes[spec.pvc] = self._volume(cluster, ns, spec)
        return app

    def _volume(self, cluster: str, ns: str, spec: VolumeSpec) -> AppVolume:
        self.kube.post(
            cluster,
            f"/api/v1/namespaces/{ns}/persistentvolumeclaims",
            {
                "metadata": {"name": spec.pvc},
                "spec": {
                    "accessModes": [spec.mode],
                    "storageClassName": spec.storage_class,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        pod_name = f"app-{spec.pvc}" if spec.pod else f"writer-{spec.pvc}"
        pod = self.start_pod(cluster, ns, pod_name, spec.pvc)
        claim = self.kube.get(cluster, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{spec.pvc}")
        pv = claim["spec"]["volumeName"]
        node = pod["spec"]["nodeName"]
        pods_dir = next(n.kubelet_pods_dir for n in self.kube.info(cluster).nodes if n.name == node)
        [mount] = pods_dir.glob(f"{pod['metadata']['uid']}/volumes/*/{pv}/mount")
        (spec.fill or small_files(f"{ns}/{spec.pvc}"))(mount)
        disk = mount.resolve()
        if not spec.pod:
            self.stop_pod(cluster, ns, pod_name)
        return AppVolume(
            namespace=ns,
            pvc=spec.pvc,
            pv=pv,
            storage_class=spec.storage_class,
            pod=pod_name if spec.pod else None,
            node=node if spec.pod else None,
            disk=disk,
            digest=volume_digest(disk),
        )

    def start_pod(self, cluster: str, ns: str, name: str, claim: str) -> rest.Obj:
        path = f"/api/v1/namespaces/{ns}/pods"
        spec = {
            "containers": [
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        }
        self.kube.post(cluster, path, {"metadata": {"name": name}, "spec": spec})

        def running() -> rest.Obj | None:
            pod = self.kube.get(cluster, f"{path}/{name}")
            return pod if pod["status"].get("phase") == "Running" else None

        found: rest.Obj = eventually(running, what=f"pod {ns}/{name} running")
        return found

    def stop_pod(self, cluster: str, ns: str, name: str) -> None:
        path = f"/api/v1/namespaces/{ns}/pods/{name}"
        self.kube.delete(cluster, path)
        eventually(lambda: self.kube.find(cluster, path) is None, what=f"pod {ns}/{name} gone")

    def cleanup(self) -> None:
        for cluster, ns in self.namespaces:
            self.kube.delete(cluster, f"/api/v1/namespaces/{ns}")


@pytest.fixture(scope="session")
def config(stack: StackInfo) -> LifeboatConfig:
    return load_config(stack.home / "config.yaml")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lifeboat(config: LifeboatConfig) -> AsyncIterator[LifeboatClient]:
    async with await LifeboatClient.connect(config) as connected:
        yield connected


@pytest.fixture(scope="session")
def kube(stack: StackInfo) -> Iterator[Kube]:
    access = Kube(stack)
    yield access
    access.close()


@pytest.fixture(scope="session")
def apps(kube: Kube) -> Iterator[Apps]:
    made = Apps(kube)
    yield made
    made.cleanup()


SHARED_VOLUMES = (
    VolumeSpec("snap", "csi-snap"),
    VolumeSpec("nosnap", "csi-nosnap"),
    VolumeSpec("idle", "csi-nosnap", pod=False),
    VolumeSpec("local", "local"),
    VolumeSpec("shared", "nfs", mode="ReadWriteMany"),
)


@pytest.fixture(scope="session")
def app(apps: Apps) -> App:
    """One application on every storage class, shared by the tests that only read it:
    a CSI volume with snapshots, one without (mounted and idle), a local and an NFS one."""
    return apps.make("wf-app", SHARED_VOLUMES)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def default_backup(lifeboat: LifeboatClient, app: App) -> RecordedRun:
    """A backup of the shared application with every option at its default."""
    run = await lifeboat.start_backup(
        BackupRequest(cluster=app.cluster, selection={"include_namespaces": [app.namespace]})
    )
    point = await run.result()
    history = await lifeboat.temporal.get_workflow_handle(run.workflow_id).fetch_history()
    return RecordedRun(result=point, history=history)


@pytest.fixture(scope="session")
def repository_digest(config: LifeboatConfig) -> Callable[[str], str]:
    """The `volume_digest` of a repository snapshot, restored with the data mover."""

    def digest(snapshot_id: str) -> str:
        with (
            tempfile.TemporaryDirectory() as target,
            open_repository(config.storage_locations["default"]) as repo,
        ):
            result = restore(repo, snapshot_id, target, RestoreOptions())
            assert not result.errors
            return volume_digest(Path(target))

    return digest


@pytest.fixture(scope="session")
def restic(stack: StackInfo, s3_env: dict[str, str]) -> Callable[..., str]:
    """Run restic 0.14 against the stack's repository; fails the test on a non-zero exit."""

    def run(*args: str) -> str:
        done = subprocess.run(
            [
                "restic",
                "--no-cache",
                "-r",
                stack.s3.repo_string("repository"),
                "--password-file",
                str(stack.home / "secrets" / "repository-password"),
                *args,
            ],
            env=s3_env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"restic {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    return run


RunIdOf = Callable[[Run[Any, Any]], Awaitable[str]]


@pytest.fixture(scope="session")
def run_id_of(lifeboat: LifeboatClient) -> RunIdOf:
    """The Temporal run id of a run: what the cluster agent labels its objects with."""

    async def run_id(run: Run[Any, Any]) -> str:
        described = await lifeboat.temporal.get_workflow_handle(run.workflow_id).describe()
        return described.run_id

    return run_id


@pytest.fixture(scope="session")
def volume_spec() -> type[VolumeSpec]:
    return VolumeSpec


HISTORIES_DIR = Path(__file__).parent / "histories"
RECORD_ENV = "LIFEBOAT_RECORD_HISTORIES"


@pytest.fixture(scope="session")
def replay() -> Callable[[str, WorkflowHistory], Awaitable[None]]:
    """Replay a run's history against the workflow code; with LIFEBOAT_RECORD_HISTORIES=1
    also save it under `histories/<name>.json`, for test_replay.py to replay in CI."""

    async def check(name: str, history: WorkflowHistory) -> None:
        replayer = Replayer(
            workflows=list(workflows.WORKFLOWS), data_converter=pydantic_data_converter
        )
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, result.replay_failure
        if os.environ.get(RECORD_ENV) == "1":
            # The run's id travels along: workflows derive their children's ids from it.
            recorded = {"workflowId": history.workflow_id, **history.to_json_dict()}
            (HISTORIES_DIR / f"{name}.json").write_text(json.dumps(recorded))

    return check


@pytest.fixture(name="eventually", scope="session")
def eventually_fixture() -> Callable[..., Any]:
    return eventually
