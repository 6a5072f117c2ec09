"""Workload controllers: Deployment -> ReplicaSet -> Pods, StatefulSet (ordered pods and
per-replica claims), DaemonSet (a pod per node), Job (pods that run to completion).

Simple but real: ownerReferences, labels, names and status fields are the ones the real
controllers produce, so a backup sees the same object graph it would see in a cluster.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING, Any

from ..admission import NAME_ALPHABET
from ..apiserver import now
from ..kinds import KindInfo, builtin
from ..selectors import selector_object_matches
from ..store import Obj
from .storage import PODS, PVCS, TERMINAL_PHASES

if TYPE_CHECKING:
    from ..cluster import Cluster

DEPLOYMENTS = builtin("apps", "Deployment")
REPLICASETS = builtin("apps", "ReplicaSet")
STATEFULSETS = builtin("apps", "StatefulSet")
DAEMONSETS = builtin("apps", "DaemonSet")
JOBS = builtin("batch", "Job")
NODES = builtin("", "Node")


def reconcile_workloads(cluster: Cluster) -> None:
    for kind, reconcile in (
        (DEPLOYMENTS, _deployment),
        (REPLICASETS, _replicaset),
        (STATEFULSETS, _statefulset),
        (DAEMONSETS, _daemonset),
        (JOBS, _job),
    ):
        for obj in list(cluster.api.scan(kind)):
            if not obj["metadata"].get("deletionTimestamp"):
                reconcile(cluster, obj)  # read-only: writes go through the API


def owner_reference(kind: KindInfo, owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _owned(cluster: Cluster, kind: KindInfo, owner: Obj) -> list[Obj]:
    uid = owner["metadata"]["uid"]
    return [
        o
        for o in cluster.api.scan(kind, owner["metadata"]["namespace"])
        if any(
            r.get("uid") == uid and r.get("controller")
            for r in o["metadata"].get("ownerReferences") or []
        )
    ]


def template_hash(template: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(NAME_ALPHABET[b % len(NAME_ALPHABET)] for b in digest[:10])


def _is_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _write_status(cluster: Cluster, kind: KindInfo, obj: Obj, status: dict[str, Any]) -> None:
    if obj.get("status") != status:
        cluster.api.write_status(kind, {**obj, "status": status})


def _conditions(obj: Obj, wanted: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """Conditions keep their transition time while their status does not change."""
    old = {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}
    out = []
    for ctype, status, reason, message in wanted:
        prev = old.get(ctype)
        stamp = prev["lastTransitionTime"] if prev and prev["status"] == status else now()
        out.append(
            {
                "type": ctype,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": stamp,
                "lastUpdateTime": stamp,
            }
        )
    return out


def _pod_from_template(kind: KindInfo, owner: Obj, template: dict[str, Any]) -> Obj:
    template = copy.deepcopy(template)
    meta = template.get("metadata") or {}
    meta.pop("creationTimestamp", None)
    meta["ownerReferences"] = [owner_reference(kind, owner)]
    return {"metadata": meta, "spec": template.get("spec") or {}}


def _deployment(cluster: Cluster, deploy: Obj) -> None:
    api, spec, meta = cluster.api, deploy["spec"], deploy["metadata"]
    template = copy.deepcopy(spec["template"])
    pod_hash = template_hash(template)
    labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": pod_hash}
    template.setdefault("metadata", {})["labels"] = labels
    name = f"{meta['name']}-{pod_hash}"
    owned = _owned(cluster, REPLICASETS, deploy)
    replicas = int(spec.get("replicas", 1))
    revision = str(
        1
        + max(
            (
                int(
                    r["metadata"]
                    .get("annotations", {})
                    .get("deployment.kubernetes.io/revision", "0")
                )
                for r in owned
            ),
            default=0,
        )
    )
    if not any(r["metadata"]["name"] == name for r in owned):
        selector = copy.deepcopy(spec["selector"])
        selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
        api.create(
            REPLICASETS,
            meta["namespace"],
            {
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "ownerReferences": [owner_reference(DEPLOYMENTS, deploy)],
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": str(replicas),
                        "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                        "deployment.kubernetes.io/revision": revision,
                    },
                },
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            },
        )
        owned = _owned(cluster, REPLICASETS, deploy)
    for rs in owned:
        want = replicas if rs["metadata"]["name"] == name else 0
        if rs["spec"].get("replicas") != want:
            changed = copy.deepcopy(rs)
            changed["spec"]["replicas"] = want
            api.write(REPLICASETS, changed)
    owned = _owned(cluster, REPLICASETS, deploy)
    total = sum(int((r.get("status") or {}).get("replicas", 0)) for r in owned)
    ready = sum(int((r.get("status") or {}).get("readyReplicas", 0)) for r in owned)
    current = next((r for r in owned if r["metadata"]["name"] == name), None)
    updated = int(((current or {}).get("status") or {}).get("replicas", 0))
    status: dict[str, Any] = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": total,
        "updatedReplicas": updated,
    }
    if ready:
        status["readyReplicas"] = status["availableReplicas"] = ready
    if total - ready:
        status["unavailableReplicas"] = total - ready
    available = ready >= replicas
    status["conditions"] = _conditions(
        deploy,
        [
            (
                "Available",
                "True" if available else "False",
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
            ),
            (
                "Progressing",
                "True",
                "NewReplicaSetAvailable" if available else "ReplicaSetUpdated",
                f'ReplicaSet "{name}" has successfully progressed.'
                if available
                else f'ReplicaSet "{name}" is progressing.',
            ),
        ],
    )
    _write_status(cluster, DEPLOYMENTS, deploy, status)


def _replicaset(cluster: Cluster, rs: Obj) -> None:
    api, spec, meta = cluster.api, rs["spec"], rs["metadata"]
    pods = [p for p in _owned(cluster, PODS, rs) if not p["metadata"].get("deletionTimestamp")]
    replicas = int(spec.get("replicas", 1))
    for _ in range(replicas - len(pods)):
        pod = _pod_from_template(REPLICASETS, rs, spec["template"])
        pod["metadata"]["generateName"] = f"{meta['name']}-"
        api.create(PODS, meta["namespace"], pod)
    for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])[replicas:]:
        api.delete_quietly(PODS, meta["namespace"], pod["metadata"]["name"])
    pods = [p for p in _owned(cluster, PODS, rs) if not p["metadata"].get("deletionTimestamp")]
    ready = sum(1 for p in pods if _is_ready(p))
    status: dict[str, Any] = {
        "replicas": len(pods),
        "fullyLabeledReplicas": len(pods),
        "observedGeneration": meta.get("generation", 1),
    }
    if ready:
        status["readyReplicas"] = status["availableReplicas"] = ready
    _write_status(cluster, REPLICASETS, rs, status)


def _statefulset(cluster: Cluster, sts: Obj) -> None:
    api, spec, meta = cluster.api, sts["spec"], sts["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    replicas = int(spec.get("replicas", 1))
    revision = f"{name}-{template_hash(spec['template'])}"
    selector_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
    pods = {p["metadata"]["name"]: p for p in _owned(cluster, PODS, sts)}
    for index in range(replicas):
        pod_name = f"{name}-{index}"
        if pod_name in pods:
            if ordered and not _is_ready(pods[pod_name]):
                break
            continue
        for template in spec.get("volumeClaimTemplates") or []:
            claim = f"{template['metadata']['name']}-{pod_name}"
            if api.find(PVCS, namespace, claim) is None:
                tmeta = template.get("metadata") or {}
                api.create(
                    PVCS,
                    namespace,
                    {
                        "metadata": {
                            "name": claim,
                            "labels": {**(tmeta.get("labels") or {}), **selector_labels},
                            "annotations": tmeta.get("annotations") or {},
                        },
                        "spec": copy.deepcopy(template["spec"]),
                    },
                )
        pod = _pod_from_template(STATEFULSETS, sts, spec["template"])
        pod["metadata"]["name"] = pod_name
        pod["metadata"].setdefault("labels", {}).update(
            {
                "statefulset.kubernetes.io/pod-name": pod_name,
                "apps.kubernetes.io/pod-index": str(index),
                "controller-revision-hash": revision,
            }
        )
        pod["spec"]["hostname"] = pod_name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        volumes = pod["spec"].setdefault("volumes", [])
        for template in spec.get("volumeClaimTemplates") or []:
            tname = template["metadata"]["name"]
            volumes[:] = [v for v in volumes if v.get("name") != tname]
            volumes.append(
                {"name": tname, "persistentVolumeClaim": {"claimName": f"{tname}-{pod_name}"}}
            )
        api.create(PODS, namespace, pod)
        if ordered:
            break
    for pod_name in pods:
        if int(pod_name.rsplit("-", 1)[-1]) >= replicas:
            api.delete_quietly(PODS, namespace, pod_name)
    pods_now = _owned(cluster, PODS, sts)
    ready = sum(1 for p in pods_now if _is_ready(p))
    status = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": len(pods_now),
        "readyReplicas": ready,
        "currentReplicas": len(pods_now),
        "updatedReplicas": len(pods_now),
        "availableReplicas": ready,
        "currentRevision": revision,
        "updateRevision": revision,
        "collisionCount": 0,
    }
    _write_status(cluster, STATEFULSETS, sts, status)


def _daemonset(cluster: Cluster, ds: Obj) -> None:
    api, spec, meta = cluster.api, ds["spec"], ds["metadata"]
    selector = (spec["template"].get("spec") or {}).get("nodeSelector") or {}
    nodes = [
        n["metadata"]["name"]
        for n in api.scan(NODES)
        if selector_object_matches({"matchLabels": selector}, n["metadata"].get("labels") or {})
    ]
    pods = _owned(cluster, PODS, ds)
    by_node = {p["spec"].get("nodeName"): p for p in pods}
    by_affinity = {
        ((p["spec"].get("affinity") or {}).get("nodeAffinity") or {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", {})
        .get("nodeSelectorTerms", [{}])[0]
        .get("matchFields", [{}])[0]
        .get("values", [None])[0]: p
        for p in pods
    }
    for node in nodes:
        if node in by_node or node in by_affinity:
            continue
        pod = _pod_from_template(DAEMONSETS, ds, spec["template"])
        pod["metadata"]["generateName"] = f"{meta['name']}-"
        pod["spec"]["affinity"] = {
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
        api.create(PODS, meta["namespace"], pod)
    pods = _owned(cluster, PODS, ds)
    ready = sum(1 for p in pods if _is_ready(p))
    status = {
        "desiredNumberScheduled": len(nodes),
        "currentNumberScheduled": len(pods),
        "numberMisscheduled": 0,
        "numberReady": ready,
        "numberAvailable": ready,
        "updatedNumberScheduled": len(pods),
        "observedGeneration": meta.get("generation", 1),
    }
    _write_status(cluster, DAEMONSETS, ds, status)


def _job(cluster: Cluster, job: Obj) -> None:
    api, spec, meta = cluster.api, job["spec"], job["metadata"]
    pods = _owned(cluster, PODS, job)
    succeeded = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
    active = [p for p in pods if (p.get("status") or {}).get("phase") not in TERMINAL_PHASES]
    completions = int(spec.get("completions", 1))
    parallelism = int(spec.get("parallelism", 1))
    if not spec.get("suspend"):
        for _ in range(min(parallelism - len(active), completions - succeeded - len(active))):
            pod = _pod_from_template(JOBS, job, spec["template"])
            pod["metadata"]["generateName"] = f"{meta['name']}-"
            api.create(PODS, meta["namespace"], pod)
    pods = _owned(cluster, PODS, job)
    active_now = sum(1 for p in pods if (p.get("status") or {}).get("phase") not in TERMINAL_PHASES)
    old = job.get("status") or {}
    status: dict[str, Any] = {
        "startTime": old.get("startTime") or now(),
        "active": active_now,
        "succeeded": succeeded,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    if not active_now:
        status.pop("active")
    if succeeded >= completions:
        status["completionTime"] = old.get("completionTime") or now()
        status["conditions"] = _conditions(
            job,
            [
                (
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                (
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
            ],
        )
    _write_status(cluster, JOBS, job, status)
