"""Expose a restored, empty claim read-write to the node agent that writes its data.

The mounter pod is the backup's (`exposure.mounter_pod`), mounted read-write: the node
agent writes into ``<kubelet pods dir>/<pod uid>/volumes/<plugin dir>/<pv>/mount`` from the
host side. A new claim of a ``WaitForFirstConsumer`` class binds when the scheduler places
the pod, so the node and PV are read once it runs. Its name derives from the run and the
claim: a retried exposure finds its pod, and the release needs nothing but the claim.
"""

from __future__ import annotations

from kubernetes import client

from activities.kube import rest
from activities.kube.discovery import PODS, PVCS, PVS, collection_path, object_path
from activities.kube.exposure import (
    exposure_of,
    mounter_pod,
    node_holding,
    release_volume,
    wait_running,
)
from activities.kube.inventory import local_node
from activities.kube.naming import derived_name
from lifeboat.contracts.kube import ExposeVolumeInput, ObjectRef, VolumeExposure
from lifeboat.contracts.restore import ExposeRestoreVolumeInput, ReleaseRestoreVolumeInput
from lifeboat.models import BackupMethod

NAME_KIND = "restore"


def restore_mounter_ref(run_id: str, namespace: str, claim: str) -> ObjectRef:
    return ObjectRef(
        api_version="v1",
        kind=PODS.kind,
        plural=PODS.plural,
        namespace=namespace,
        name=derived_name(NAME_KIND, run_id, namespace, claim),
    )


def writable_mounter_pod(request: ExposeRestoreVolumeInput, node: str | None) -> rest.Obj:
    ref = restore_mounter_ref(request.run_id, request.namespace, request.claim)
    backup_side = ExposeVolumeInput(
        run_id=request.run_id,
        recovery_point=request.recovery_point,
        method=BackupMethod.PVC,
        namespace=request.namespace,
        pvc=request.claim,
    )
    pod = mounter_pod(ref.name, request.claim, node, backup_side)
    spec = pod["spec"]
    for volume in spec["volumes"]:
        volume["persistentVolumeClaim"]["readOnly"] = False
    for container in spec["containers"]:
        for mount in container["volumeMounts"]:
            mount["readOnly"] = False
    return pod


def expose_restore_volume(
    api: client.ApiClient, request: ExposeRestoreVolumeInput
) -> VolumeExposure:
    pvc = rest.get(api, object_path(PVCS, request.namespace, request.claim))
    node = _claim_node(api, pvc)
    ref = restore_mounter_ref(request.run_id, request.namespace, request.claim)
    rest.create(api, collection_path(PODS, request.namespace), writable_mounter_pod(request, node))
    try:
        pod = wait_running(api, request.namespace, ref.name, request.timeout_seconds)
        pvc = rest.get(api, object_path(PVCS, request.namespace, request.claim))
        return exposure_of(api, pod, pvc["spec"]["volumeName"], created=[ref])
    except BaseException:
        rest.delete(api, object_path(PODS, request.namespace, ref.name))
        raise


def release_restore_volume(api: client.ApiClient, request: ReleaseRestoreVolumeInput) -> None:
    ref = restore_mounter_ref(request.run_id, request.namespace, request.claim)
    release_volume(api, [ref], request.timeout_seconds)


def _claim_node(api: client.ApiClient, pvc: rest.Obj) -> str | None:
    """A node the pod must run on: where a bound local PV lives, or where a running pod
    holds a ReadWriteOnce volume already (restoring everything in one pass); else the
    scheduler chooses and the claim binds there."""
    volume_name = pvc["spec"].get("volumeName")
    if not volume_name:
        return None
    pv = rest.find(api, object_path(PVS, None, volume_name))
    if pv is None:
        return None
    return local_node(pv) or node_holding(api, pvc, pv)
