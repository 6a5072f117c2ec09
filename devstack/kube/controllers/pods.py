"""The scheduler and the kubelets: place pods on nodes, start them, and mount their
volumes under each node's kubelet pods directory.

A mounted volume is `<pods-dir>/<pod-uid>/volumes/<plugin-dir>/<pv-name>/mount`, a
directory symlink to the PV's data directory. A real kubelet bind-mounts the volume
there; a symlink gives the same sharing (the app's writes, the node agent's reads and a
snapshot copy all see one set of bytes) without root, and exists on one node's directory
only, so per-node routing is real. Readers open `mount` as a directory (stat follows it).
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..apiserver import now
from ..drivers import PLUGIN_DIRS, pv_source_type
from ..faults import FaultKind
from ..kinds import builtin
from ..store import Obj
from .storage import PODS, PVCS, PVS, SELECTED_NODE, STORAGE_CLASSES, TERMINAL_PHASES

if TYPE_CHECKING:
    from ..cluster import Cluster

NODES = builtin("", "Node")
_OPERATORS: dict[str, Callable[[str | None, list[str]], bool]] = {
    "In": lambda v, vs: v is not None and v in vs,
    "NotIn": lambda v, vs: v is None or v not in vs,
    "Exists": lambda v, vs: v is not None,
    "DoesNotExist": lambda v, vs: v is None,
    "Gt": lambda v, vs: v is not None and v.isdigit() and int(v) > int(vs[0]),
    "Lt": lambda v, vs: v is not None and v.isdigit() and int(v) < int(vs[0]),
}


def reconcile_pods(cluster: Cluster) -> None:
    nodes = {n["metadata"]["name"]: n for n in cluster.api.scan(NODES)}
    for pod in list(cluster.api.scan(PODS)):
        phase = (pod.get("status") or {}).get("phase")
        if pod["metadata"].get("deletionTimestamp") or phase in TERMINAL_PHASES:
            continue
        if not pod["spec"].get("nodeName"):
            _schedule(cluster, copy.deepcopy(pod), nodes)
        elif phase != "Running":
            _start(cluster, copy.deepcopy(pod), nodes)
    _sync_kubelet_dirs(cluster)


def _term_matches(term: dict[str, Any], node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    for expr in term.get("matchExpressions") or []:
        if not _OPERATORS[expr["operator"]](labels.get(expr["key"]), expr.get("values") or []):
            return False
    for expr in term.get("matchFields") or []:
        value = node["metadata"]["name"] if expr["key"] == "metadata.name" else None
        if not _OPERATORS[expr["operator"]](value, expr.get("values") or []):
            return False
    return True


def _selector_terms_match(selector: dict[str, Any] | None, node: Obj) -> bool:
    terms = (selector or {}).get("nodeSelectorTerms")
    return not terms or any(_term_matches(t, node) for t in terms)


def _claims(pod: Obj) -> list[str]:
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"].get("volumes") or []
        if v.get("persistentVolumeClaim")
    ]


def _users(cluster: Cluster, namespace: str, claim: str, exclude_uid: str) -> set[str]:
    """Nodes where another unfinished pod already has the claim."""
    nodes = set()
    for other in cluster.api.scan(PODS, namespace):
        if other["metadata"]["uid"] == exclude_uid or not other["spec"].get("nodeName"):
            continue
        if (other.get("status") or {}).get("phase") in TERMINAL_PHASES:
            continue
        if claim in _claims(other):
            nodes.add(other["spec"]["nodeName"])
    return nodes


def _unschedulable(cluster: Cluster, pod: Obj, total: int, why: str) -> None:
    message = f"0/{total} nodes are available: {why}. preemption: 0/{total} nodes are available."
    status = dict(pod.get("status") or {})
    conditions = status.get("conditions") or []
    if conditions and conditions[0].get("message") == message:
        return
    status["phase"] = "Pending"
    status["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastTransitionTime": now(),
            "lastProbeTime": None,
        }
    ]
    cluster.api.write_status(PODS, {**pod, "status": status})


def _schedule(cluster: Cluster, pod: Obj, nodes: dict[str, Obj]) -> None:
    api = cluster.api
    spec, namespace = pod["spec"], pod["metadata"]["namespace"]
    candidates = [
        name
        for name, node in sorted(nodes.items())
        if not node.get("spec", {}).get("unschedulable")
        and all(
            (node["metadata"].get("labels") or {}).get(k) == v
            for k, v in (spec.get("nodeSelector") or {}).items()
        )
        and _selector_terms_match(
            ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution"
            ),
            node,
        )
    ]
    if not candidates:
        _unschedulable(
            cluster, pod, len(nodes), "node(s) didn't match Pod's node affinity/selector"
        )
        return
    waiting_claims = []
    for claim in _claims(pod):
        pvc = api.peek(PVCS, namespace, claim)
        if pvc is None or pvc["metadata"].get("deletionTimestamp"):
            state = "not found" if pvc is None else "is being deleted"
            _unschedulable(cluster, pod, len(nodes), f'persistentvolumeclaim "{claim}" {state}')
            return
        pv = api.peek(PVS, "", pvc["spec"].get("volumeName") or "")
        if pv is None:
            sc = api.peek(STORAGE_CLASSES, "", pvc["spec"].get("storageClassName") or "")
            if sc is None or sc.get("volumeBindingMode") != "WaitForFirstConsumer":
                _unschedulable(
                    cluster, pod, len(nodes), "pod has unbound immediate PersistentVolumeClaims"
                )
                return
            waiting_claims.append(pvc)
            continue
        affinity = (pv["spec"].get("nodeAffinity") or {}).get("required")
        candidates = [n for n in candidates if _selector_terms_match(affinity, nodes[n])]
        modes = set(pv["spec"].get("accessModes") or [])
        users = _users(cluster, namespace, claim, pod["metadata"]["uid"])
        if "ReadWriteOncePod" in modes and users:
            _unschedulable(
                cluster,
                pod,
                len(nodes),
                "node(s) unavailable due to PersistentVolume"
                "Claim with ReadWriteOncePod access mode already in-use by another "
                "pod",
            )
            return
        if modes <= {"ReadWriteOnce", "ReadWriteOncePod"} and users:
            candidates = [n for n in candidates if n in users]
    if not candidates:
        _unschedulable(cluster, pod, len(nodes), "node(s) had volume node affinity conflict")
        return
    load = {n: 0 for n in candidates}
    for other in api.scan(PODS):
        if other["spec"].get("nodeName") in load:
            load[other["spec"]["nodeName"]] += 1
    node = min(candidates, key=lambda n: (load[n], n))
    for pvc in waiting_claims:
        pvc = copy.deepcopy(pvc)
        pvc["metadata"].setdefault("annotations", {})[SELECTED_NODE] = node
        api.write(PVCS, pvc)
    spec["nodeName"] = node
    pod = api.write(PODS, pod)
    status = dict(pod.get("status") or {})
    status["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now(),
        }
    ]
    api.write_status(PODS, {**pod, "status": status})


def _pod_classes(cluster: Cluster, pod: Obj) -> set[str]:
    classes = set()
    for claim in _claims(pod):
        pvc = cluster.api.peek(PVCS, pod["metadata"]["namespace"], claim)
        if pvc is not None:
            classes.add(pvc["spec"].get("storageClassName") or "")
    return classes


def _waiting(cluster: Cluster, pod: Obj, reason: str) -> None:
    status = dict(pod.get("status") or {})
    statuses = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {"waiting": {"reason": reason}},
        }
        for c in pod["spec"].get("containers") or []
    ]
    if status.get("containerStatuses") != statuses:
        status["containerStatuses"] = statuses
        cluster.api.write_status(PODS, {**pod, "status": status})


def _volumes_ready(cluster: Cluster, pod: Obj) -> bool:
    for claim in _claims(pod):
        pvc = cluster.api.peek(PVCS, pod["metadata"]["namespace"], claim)
        if pvc is None or (pvc.get("status") or {}).get("phase") != "Bound":
            return False
    return True


def _pod_ip(cluster: Cluster, node: Obj) -> str:
    prefix = node.get("spec", {}).get("podCIDR", "10.244.0.0/24").rsplit(".", 1)[0]
    used = {(p.get("status") or {}).get("podIP") for p in cluster.api.scan(PODS)}
    return next(f"{prefix}.{i}" for i in range(2, 255) if f"{prefix}.{i}" not in used)


def _completes(pod: Obj) -> bool:
    """Job pods run to completion; everything else keeps running."""
    return any(r.get("kind") == "Job" for r in pod["metadata"].get("ownerReferences") or [])


def _start(cluster: Cluster, pod: Obj, nodes: dict[str, Obj]) -> None:
    meta, spec = pod["metadata"], pod["spec"]
    node = nodes.get(spec["nodeName"])
    if node is None:
        return  # no kubelet runs for an unknown node; the pod stays Pending
    fault = cluster.faults.find(
        FaultKind.POD_NEVER_STARTS, meta["namespace"], meta["name"], _pod_classes(cluster, pod)
    )
    if fault is not None or not _volumes_ready(cluster, pod):
        _waiting(cluster, pod, "ContainerCreating")
        return
    _mount_volumes(cluster, pod)
    stamp = now()
    host_ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    pod_ip = host_ip if spec.get("hostNetwork") else _pod_ip(cluster, node)
    done = _completes(pod)

    def container_status(container: dict[str, Any], finished: bool) -> dict[str, Any]:
        digest = hashlib.sha256(f"{meta['uid']}/{container['name']}".encode()).hexdigest()
        state = (
            {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": stamp,
                    "finishedAt": stamp,
                    "containerID": f"containerd://{digest}",
                }
            }
            if finished
            else {"running": {"startedAt": stamp}}
        )
        return {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": f"{container.get('image', '')}@sha256:{digest}",
            "containerID": f"containerd://{digest}",
            "ready": not finished,
            "started": not finished,
            "restartCount": 0,
            "state": state,
            "lastState": {},
        }

    ready = "False" if done else "True"
    conditions = [
        {
            "type": t,
            "status": s,
            "lastProbeTime": None,
            "lastTransitionTime": stamp,
            **({"reason": "PodCompleted"} if s == "False" else {}),
        }
        for t, s in (
            ("PodReadyToStartContainers", "True"),
            ("Initialized", "True"),
            ("Ready", ready),
            ("ContainersReady", ready),
            ("PodScheduled", "True"),
        )
    ]
    status = {
        **(pod.get("status") or {}),
        "phase": "Succeeded" if done else "Running",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": stamp,
        "containerStatuses": [container_status(c, done) for c in spec.get("containers") or []],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [
            container_status(c, True) for c in spec["initContainers"]
        ]
    cluster.api.write_status(PODS, {**pod, "status": status})


def _mounts(cluster: Cluster, pod: Obj) -> list[tuple[Path, Path, Obj]]:
    """(mount dir relative to the pod dir, PV data dir, PV) for each PVC of the pod."""
    mounts = []
    for claim in _claims(pod):
        pvc = cluster.api.peek(PVCS, pod["metadata"]["namespace"], claim)
        pv = cluster.api.peek(PVS, "", (pvc or {}).get("spec", {}).get("volumeName") or "")
        source = pv_source_type(pv) if pv else None
        if pv is None or source is None:
            continue
        name = pv["metadata"]["name"]
        relative = Path("volumes") / PLUGIN_DIRS[source] / name / "mount"
        mounts.append((relative, cluster.volume_dir(name), pv))
    return mounts


def _mount_volumes(cluster: Cluster, pod: Obj) -> None:
    pod_dir = cluster.kubelet_pods_dir(pod["spec"]["nodeName"]) / pod["metadata"]["uid"]
    for relative, data_dir, pv in _mounts(cluster, pod):
        data_dir.mkdir(parents=True, exist_ok=True)
        mount = pod_dir / relative
        if mount.is_symlink() and mount.resolve() == data_dir.resolve():
            continue
        mount.parent.mkdir(parents=True, exist_ok=True)
        if mount.is_symlink() or mount.exists():
            mount.unlink()
        mount.symlink_to(data_dir.resolve(), target_is_directory=True)
        if csi := pv["spec"].get("csi"):
            (mount.parent / "vol_data.json").write_text(
                json.dumps(
                    {
                        "driverName": csi["driver"],
                        "volumeHandle": csi["volumeHandle"],
                        "specVolID": pv["metadata"]["name"],
                        "volumeLifecycleMode": "Persistent",
                        "attachmentID": "",
                        "nodeName": pod["spec"]["nodeName"],
                    }
                )
            )


def _sync_kubelet_dirs(cluster: Cluster) -> None:
    """Each node's pods dir holds exactly its running pods, with their volumes mounted."""
    running: dict[str, dict[str, Obj]] = {node: {} for node in cluster.nodes}
    for pod in cluster.api.scan(PODS):
        node = pod["spec"].get("nodeName")
        if node in running and (pod.get("status") or {}).get("phase") == "Running":
            running[node][pod["metadata"]["uid"]] = pod
    for node, pods in running.items():
        pods_dir = cluster.kubelet_pods_dir(node)
        pods_dir.mkdir(parents=True, exist_ok=True)
        for entry in pods_dir.iterdir():
            if entry.name not in pods:
                shutil.rmtree(entry, ignore_errors=True)
        for pod in pods.values():
            _mount_volumes(cluster, pod)
