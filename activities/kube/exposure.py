"""Expose a volume to a node agent, and take away what that needed.

Reading a volume always means some pod on node N has it mounted, and N's agent reads it
under the kubelet pods dir. The methods differ in which pod that is:

- ``snapshot``: a mounter pod on a temporary PVC made from the VolumeSnapshot;
- ``pvc``: a mounter pod on the live PVC, on the node that already uses it (ReadWriteOnce)
  or the node a local PV lives on;
- ``host_volume``: the workload's own running pod; nothing is created.

What a run creates is labelled with the run, so `sweep_run` finds every leftover of a
cancelled or failed run; names derive from the run and the PVC, so a retried exposure
finds its own objects.
"""

from __future__ import annotations

import time
from functools import partial

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from temporalio.exceptions import ApplicationError

from activities.kube import rest
from activities.kube.discovery import (
    PODS,
    PVCS,
    PVS,
    VOLUME_SNAPSHOTS,
    collection_path,
    object_path,
    ref_of,
    ref_path,
)
from activities.kube.heartbeat import heartbeat
from activities.kube.inventory import claims_of, local_node, plugin_dir
from activities.kube.naming import derived_name
from activities.kube.snapshots import delete_snapshots
from activities.kube.waiting import POLL_SECONDS, wait_until_all
from lifeboat.contracts.kube import (
    PVC_ANNOTATION,
    ExposeVolumeInput,
    ObjectRef,
    SnapshotRef,
    VolumeExposure,
    is_machinery,
    lifeboat_labels,
    machinery_selector,
)
from lifeboat.models import BackupMethod

log = structlog.get_logger(__name__)

MOUNTER_IMAGE = "busybox:1.36"
MOUNT_PATH = "/data"
NOBODY = 65534
READ_WRITE_ONCE_MODES = frozenset({"ReadWriteOnce", "ReadWriteOncePod"})
ANY_PLUGIN_DIR = "*"
"""For a PV source without a known kubelet plugin dir: the node agent globs it."""


class MounterPodNotRunning(Exception):
    """The mounter pod did not start in time; the message says what the kubelet reported."""


def expose_volume(api: client.ApiClient, request: ExposeVolumeInput) -> VolumeExposure:
    pvc = _bound_claim(api, request.namespace, request.pvc)
    match request.method:
        case BackupMethod.HOST_VOLUME:
            return _running_workload_pod(api, pvc)
        case BackupMethod.PVC:
            return _expose_live_claim(api, request, pvc)
        case BackupMethod.SNAPSHOT:
            return _expose_snapshot(api, request, pvc)
        case _:
            raise ApplicationError(
                f"method {request.method.value!r} does not read the volume; nothing to expose",
                non_retryable=True,
            )


def release_volume(api: client.ApiClient, created: list[ObjectRef], timeout_seconds: float) -> None:
    """Delete what an exposure created and wait until it is gone; twice is fine."""
    for ref in created:
        rest.delete(api, ref_path(ref))
    wait_until_all(
        [partial(rest.gone, api, ref_path(ref)) for ref in created],
        timeout_seconds,
        "the mounter pod and temporary PVC to be deleted",
    )


def sweep_run(api: client.ApiClient, run_id: str, timeout_seconds: float) -> list[ObjectRef]:
    """Delete every pod, PVC and VolumeSnapshot the run made (`machinery_selector`), except
    snapshots marked preserved; what was deleted, pods first so their claims can go.
    Objects a restore run created for the user carry its run label but are not machinery,
    so they stay."""
    selector = machinery_selector(run_id)
    deleted: list[ObjectRef] = []
    for resource_type in (PODS, PVCS):
        for obj in rest.list_items(api, collection_path(resource_type), label_selector=selector):
            ref = ref_of(resource_type, obj)
            rest.delete(api, ref_path(ref))
            deleted.append(ref)
    try:
        snapshots = list(
            rest.list_items(api, collection_path(VOLUME_SNAPSHOTS), label_selector=selector)
        )
    except ApiException as exc:
        if exc.status != 404:  # 404: no snapshot API in this cluster, so no snapshots
            raise
        snapshots = []
    delete_snapshots(
        api,
        [
            SnapshotRef(
                namespace=s["metadata"]["namespace"],
                pvc=((s.get("spec") or {}).get("source") or {}).get("persistentVolumeClaimName")
                or s["metadata"]["name"],
                name=s["metadata"]["name"],
            )
            for s in snapshots
        ],
        timeout_seconds,
    )
    deleted.extend(ref_of(VOLUME_SNAPSHOTS, s) for s in snapshots)
    pods_and_claims = [r for r in deleted if r.plural in (PODS.plural, PVCS.plural)]
    wait_until_all(
        [partial(rest.gone, api, ref_path(ref)) for ref in pods_and_claims],
        timeout_seconds,
        f"the objects of run {run_id} to be deleted",
    )
    log.info("kube.sweep.done", run_id=run_id, deleted=len(deleted))
    return deleted


def _bound_claim(api: client.ApiClient, namespace: str, name: str) -> rest.Obj:
    pvc = rest.find(api, object_path(PVCS, namespace, name))
    if pvc is None:
        raise ApplicationError(f"PVC {namespace}/{name} does not exist", non_retryable=True)
    if not pvc["spec"].get("volumeName") or (pvc.get("status") or {}).get("phase") != "Bound":
        raise ApplicationError(
            f"PVC {namespace}/{name} is not bound to a volume", non_retryable=True
        )
    return pvc


def _running_workload_pod(api: client.ApiClient, pvc: rest.Obj) -> VolumeExposure:
    namespace, claim = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    pods = sorted(
        (
            p
            for p in rest.list_items(api, collection_path(PODS, namespace))
            if claim in claims_of(p)
            and (p.get("status") or {}).get("phase") == "Running"
            and p["spec"].get("nodeName")
            and not p["metadata"].get("deletionTimestamp")
        ),
        key=lambda p: p["metadata"]["name"],
    )
    if not pods:
        # Retryable: a workload pod being replaced is running again soon.
        raise RuntimeError(f"no running pod mounts PVC {namespace}/{claim}")
    return exposure_of(api, pods[0], pvc["spec"]["volumeName"], created=[])


def _expose_live_claim(
    api: client.ApiClient, request: ExposeVolumeInput, pvc: rest.Obj
) -> VolumeExposure:
    pv = rest.get(api, object_path(PVS, None, pvc["spec"]["volumeName"]))
    node = local_node(pv) or node_holding(api, pvc, pv)
    return _run_mounter(api, request, claim=request.pvc, node=node, created=[])


def node_holding(api: client.ApiClient, pvc: rest.Obj, pv: rest.Obj) -> str | None:
    """For a ReadWriteOnce volume, the node of a pod that has it already: only a pod on
    that node can mount it too."""
    if not set(pv["spec"].get("accessModes") or []) <= READ_WRITE_ONCE_MODES:
        return None
    namespace, claim = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
    nodes = sorted(
        p["spec"]["nodeName"]
        for p in rest.list_items(api, collection_path(PODS, namespace))
        if claim in claims_of(p)
        and p["spec"].get("nodeName")
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        and not is_machinery(p["metadata"].get("labels") or {})
    )
    return nodes[0] if nodes else None


def _expose_snapshot(
    api: client.ApiClient, request: ExposeVolumeInput, pvc: rest.Obj
) -> VolumeExposure:
    if request.volume_snapshot is None:
        raise ApplicationError("method 'snapshot' needs volume_snapshot", non_retryable=True)
    vs = rest.find(api, object_path(VOLUME_SNAPSHOTS, request.namespace, request.volume_snapshot))
    if vs is None:
        raise ApplicationError(
            f"VolumeSnapshot {request.namespace}/{request.volume_snapshot} does not exist",
            non_retryable=True,
        )
    status = vs.get("status") or {}
    if not status.get("readyToUse"):
        raise RuntimeError(
            f"VolumeSnapshot {request.namespace}/{request.volume_snapshot} is not ready"
        )
    name = derived_name("vol", request.run_id, request.namespace, request.pvc)
    size = status.get("restoreSize") or pvc["spec"]["resources"]["requests"]["storage"]
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "labels": lifeboat_labels(request.run_id, request.recovery_point),
            "annotations": {PVC_ANNOTATION: request.pvc},
        },
        "spec": {
            "storageClassName": pvc["spec"].get("storageClassName"),
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": size}},
            "dataSource": {
                "apiGroup": VOLUME_SNAPSHOTS.group,
                "kind": VOLUME_SNAPSHOTS.kind,
                "name": request.volume_snapshot,
            },
        },
    }
    rest.create(api, collection_path(PVCS, request.namespace), body)
    claim_ref = ObjectRef(
        api_version="v1",
        kind=PVCS.kind,
        plural=PVCS.plural,
        namespace=request.namespace,
        name=name,
    )
    return _run_mounter(api, request, claim=name, node=None, created=[claim_ref])


def _run_mounter(
    api: client.ApiClient,
    request: ExposeVolumeInput,
    *,
    claim: str,
    node: str | None,
    created: list[ObjectRef],
) -> VolumeExposure:
    """Start (or find) the mounter pod and wait until it runs; on failure delete what this
    exposure created, so a failed step leaves nothing for the sweep."""
    name = derived_name("mount", request.run_id, request.namespace, request.pvc)
    pod_ref = ObjectRef(
        api_version="v1", kind=PODS.kind, plural=PODS.plural, namespace=request.namespace, name=name
    )
    created = [pod_ref, *created]
    try:
        rest.create(
            api,
            collection_path(PODS, request.namespace),
            mounter_pod(name, claim, node, request),
        )
        pod = wait_running(api, request.namespace, name, request.timeout_seconds)
        pvc = rest.get(api, object_path(PVCS, request.namespace, claim))
        exposure = exposure_of(api, pod, pvc["spec"]["volumeName"], created=created)
    except BaseException:
        for ref in created:
            try:
                rest.delete(api, ref_path(ref))
            except ApiException as exc:
                log.warning("kube.expose.cleanup_failed", object=str(ref), status=exc.status)
        raise
    log.info(
        "kube.expose.mounted",
        namespace=request.namespace,
        pvc=request.pvc,
        method=request.method.value,
        node=exposure.node,
    )
    return exposure


def mounter_pod(name: str, claim: str, node: str | None, request: ExposeVolumeInput) -> rest.Obj:
    """A pod that only holds the volume mounted, read-only, with no privileges: the node
    agent reads the volume from the host side."""
    spec: rest.Obj = {
        "containers": [
            {
                "name": "mounter",
                "image": MOUNTER_IMAGE,
                "command": ["sleep", "2147483647"],
                "volumeMounts": [{"name": "data", "mountPath": MOUNT_PATH, "readOnly": True}],
                "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": claim, "readOnly": True}}
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NOBODY,
            "runAsGroup": NOBODY,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 1,
        # The node is chosen by the volume, so the pod must go there whatever its taints.
        "tolerations": [{"operator": "Exists"}],
    }
    if node is not None:
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            }
        }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": lifeboat_labels(request.run_id, request.recovery_point),
            "annotations": {PVC_ANNOTATION: request.pvc},
        },
        "spec": spec,
    }


def wait_running(
    api: client.ApiClient, namespace: str, name: str, timeout_seconds: float
) -> rest.Obj:
    deadline = time.monotonic() + timeout_seconds
    path = object_path(PODS, namespace, name)
    while True:
        pod = rest.get(api, path)
        phase = (pod.get("status") or {}).get("phase")
        heartbeat({"mounter_pod": name, "phase": phase})
        if phase == "Running":
            return pod
        if phase in ("Succeeded", "Failed"):
            raise MounterPodNotRunning(f"mounter pod {namespace}/{name} ended: {_why(pod)}")
        if time.monotonic() >= deadline:
            raise MounterPodNotRunning(
                f"mounter pod {namespace}/{name} is not running after {timeout_seconds:g} s: "
                f"{_why(pod)}"
            )
        time.sleep(POLL_SECONDS)


def _why(pod: rest.Obj) -> str:
    """What the scheduler and kubelet say about a pod that is not running."""
    status = pod.get("status") or {}
    reasons = [
        f"{c['type']}: {c.get('reason', '')} {c.get('message', '')}".strip()
        for c in status.get("conditions") or []
        if c.get("status") == "False" and c.get("message")
    ]
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for key in ("waiting", "terminated"):
            if detail := state.get(key):
                reason = detail.get("reason", key)
                reasons.append(f"container {container['name']} {key}: {reason}")
    phase = status.get("phase") or "Pending"
    node = pod["spec"].get("nodeName") or "no node"
    return f"phase {phase} on {node}" + (f"; {'; '.join(reasons)}" if reasons else "")


def exposure_of(
    api: client.ApiClient, pod: rest.Obj, pv_name: str, created: list[ObjectRef]
) -> VolumeExposure:
    pv = rest.get(api, object_path(PVS, None, pv_name))
    uid = pod["metadata"]["uid"]
    return VolumeExposure(
        node=pod["spec"]["nodeName"],
        pod_uid=uid,
        pv_name=pv_name,
        relative_path=f"{uid}/volumes/{plugin_dir(pv) or ANY_PLUGIN_DIR}/{pv_name}/mount",
        created=created,
    )
