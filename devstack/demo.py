"""The demo, as a runbook a person could follow by hand on a real cluster:

bring the stack up, seed the sample application, back up the whole cluster (every storage
class, so every method), lose a namespace with volumes, restore it, and check that every
restored volume holds exactly the bytes it held before.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ConfigDict

from devstack import stack
from devstack.info import ClusterInfo
from devstack.kube.seed import SeedReport, seed_cluster, volume_digest
from lifeboat.client import LifeboatClient, Run
from lifeboat.config import CONFIG_FILE, load_config
from lifeboat.contracts.restore_run import RestoreRunResult
from lifeboat.models import BackupRequest, RecoveryPoint, RestoreRequest

LOST_NAMESPACE = "shop"


class VolumeCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str
    pvc: str
    expected: str
    restored: str

    @property
    def equal(self) -> bool:
        return self.expected == self.restored


class DemoReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    seed: SeedReport
    recovery_point: RecoveryPoint
    backup_ui_url: str | None
    restore: RestoreRunResult
    restore_ui_url: str | None
    checks: list[VolumeCheck]

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(c.equal for c in self.checks)


Say = Callable[[str], None]
Follow = Callable[[Run[Any, Any], str], Awaitable[BaseModel]]


async def run_demo(home: Path | None, say: Say, follow: Follow) -> DemoReport:
    say("Starting the local stack (Temporal, SeaweedFS, moto, cluster dev, agents)")
    up = stack.up(home, clusters=("dev",))
    cluster = up.info.clusters["dev"]
    say("Seeding the sample application into cluster dev")
    seed = seed_cluster(cluster)
    lifeboat = await LifeboatClient.connect(load_config(up.info.home / CONFIG_FILE))

    say("Backing up the whole cluster")
    backup = await lifeboat.start_backup(BackupRequest(cluster="dev"))
    point = await follow(backup, "backup")
    assert isinstance(point, RecoveryPoint)

    say(f"Deleting namespace {LOST_NAMESPACE!r} and its volumes")
    _delete_namespace(cluster, LOST_NAMESPACE)

    say(f"Restoring namespace {LOST_NAMESPACE!r} from {point.id}")
    restore = await lifeboat.start_restore(
        RestoreRequest(
            recovery_point=point.id,
            selection={"include_namespaces": [LOST_NAMESPACE]},
        )
    )
    restored = await follow(restore, "restore")
    assert isinstance(restored, RestoreRunResult)

    say("Checking the restored volumes byte for byte")
    checks = [
        VolumeCheck(
            namespace=v.namespace,
            pvc=v.pvc,
            expected=v.digest,
            restored=volume_digest(_mounted_path(cluster, v.namespace, v.pvc)),
        )
        for v in seed.volumes
        if v.namespace == LOST_NAMESPACE
    ]
    return DemoReport(
        seed=seed,
        recovery_point=point,
        backup_ui_url=backup.ui_url,
        restore=restored,
        restore_ui_url=restore.ui_url,
        checks=checks,
    )


def _api(cluster: ClusterInfo) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(str(cluster.kubeconfig))  # type: ignore[no-untyped-call]
    return api


def _delete_namespace(cluster: ClusterInfo, namespace: str, timeout: float = 60) -> None:
    with _api(cluster) as api:
        core = client.CoreV1Api(api)
        core.delete_namespace(namespace)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                core.read_namespace(namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise
            time.sleep(0.2)
    raise TimeoutError(f"namespace {namespace} still exists after {timeout:.0f}s")


def _mounted_path(cluster: ClusterInfo, namespace: str, pvc: str, timeout: float = 60) -> Path:
    """Where the restored workload's pod sees the volume, on the node it runs on."""
    pods_dirs = {node.name: node.kubelet_pods_dir for node in cluster.nodes}
    deadline = time.monotonic() + timeout
    with _api(cluster) as api:
        core = client.CoreV1Api(api)
        while time.monotonic() < deadline:
            claim = api.sanitize_for_serialization(
                core.read_namespaced_persistent_volume_claim(pvc, namespace)
            )
            pods = api.sanitize_for_serialization(core.list_namespaced_pod(namespace))["items"]
            pv = claim["spec"].get("volumeName")
            for pod in pods:
                uses = any(
                    vol.get("persistentVolumeClaim", {}).get("claimName") == pvc
                    for vol in pod["spec"].get("volumes", [])
                )
                if uses and pv and pod.get("status", {}).get("phase") == "Running":
                    pod_dir = pods_dirs[pod["spec"]["nodeName"]] / pod["metadata"]["uid"]
                    mounts = list(pod_dir.glob(f"volumes/*/{pv}/mount"))
                    if mounts:
                        return Path(mounts[0])
            time.sleep(0.5)
    raise TimeoutError(f"no running pod mounts {namespace}/{pvc} after {timeout:.0f}s")
