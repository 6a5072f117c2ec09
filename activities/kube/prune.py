"""Remove from a replication's target what the source no longer has.

Only objects carrying the replication's ``lifeboat.io/replicated-by`` label are candidates:
the replication restored them, so nothing a person or another tool made in the target is
ever touched. Objects its controllers made from them (ReplicaSets, Pods) go with their
owners through garbage collection.
"""

from __future__ import annotations

import structlog
from kubernetes import client

from activities.kube import rest
from activities.kube.discovery import collection_path, object_path, served_resource_types
from activities.kube.heartbeat import heartbeat
from lifeboat.contracts.kube import REPLICATED_BY_LABEL
from lifeboat.contracts.restore import PruneReplicatedInput, PruneResult

log = structlog.get_logger(__name__)


def prune_replicated(api: client.ApiClient, inp: PruneReplicatedInput) -> PruneResult:
    keep = set(inp.keep)
    selector = f"{REPLICATED_BY_LABEL}={inp.replication}"
    removed: list[str] = []
    for resource_type in served_resource_types(api):
        if not {"list", "delete"} <= set(resource_type.verbs):
            continue
        for obj in rest.list_items(api, collection_path(resource_type), label_selector=selector):
            meta = obj["metadata"]
            namespace = meta.get("namespace") if resource_type.namespaced else None
            scope = f"{namespace}/" if namespace else ""
            ref = f"{resource_type.name}/{scope}{meta['name']}"
            if ref in keep or meta.get("deletionTimestamp"):
                continue
            heartbeat(ref)
            if rest.delete(api, object_path(resource_type, namespace, meta["name"])):
                removed.append(ref)
                log.info("kube.prune_replicated.removed", replication=inp.replication, ref=ref)
    return PruneResult(removed=removed)
