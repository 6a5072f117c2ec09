"""Write the selected objects as manifests into a directory the data mover backs up.

Layout (read back by `restore_tree`)::

    resources/<namespace, or _cluster>/<resource type name>/<object name>.json
    index.json    format version, the resource types with group/version/kind/namespaced
                  and their counts, the namespaces, the total

Manifests are written with sorted keys, so an unchanged object gives the same bytes and
the repository deduplicates it against the previous backup.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import structlog
from kubernetes import client

from activities.kube.inventory import select_objects
from activities.kube.rest import Obj
from activities.kube.restore_tree import CLUSTER_SCOPE_DIR, RESOURCES_DIR
from lifeboat.contracts.kube import ExportResourcesOutput, ResourceType
from lifeboat.models import ResourceSelection

log = structlog.get_logger(__name__)

INDEX_FILE = "index.json"
INDEX_FORMAT = 1

SERVER_METADATA_FIELDS = (
    "uid",  # the server assigns a new one; owner references are fixed up by the restore
    "resourceVersion",  # optimistic-concurrency token of this cluster's etcd
    "creationTimestamp",  # set at creation
    "generation",  # spec change counter, restarts at 1
    "managedFields",  # server-side apply bookkeeping of this cluster's field managers
    "selfLink",  # deprecated, derived from the path
    "deletionTimestamp",  # an object being deleted is saved as it was before that
    "deletionGracePeriodSeconds",  # belongs with deletionTimestamp
)
"""Removed: the server sets them, and a create that carries some of them is refused.

Kept on purpose: name, namespace, labels, annotations, finalizers, ownerReferences (the
restore uses them to leave owned objects to their controllers) and generateName. The
spec is kept whole, cluster-specific fields included (a Service's clusterIP, a pod's
nodeName, a PV's claimRef): only the restore knows its target cluster and decides.
"""


def strip_server_fields(obj: Obj) -> Obj:
    """A copy without what the API server populates; ``status`` goes too, as the
    controllers of the restored objects rebuild it."""
    stripped = copy.deepcopy(obj)
    stripped.pop("status", None)
    metadata: dict[str, Any] = stripped.get("metadata") or {}
    for field in SERVER_METADATA_FIELDS:
        metadata.pop(field, None)
    return stripped


def manifest_path(resource_type: ResourceType, obj: Obj) -> Path:
    scope = obj["metadata"].get("namespace") if resource_type.namespaced else None
    name: str = obj["metadata"]["name"]
    return Path(RESOURCES_DIR, scope or CLUSTER_SCOPE_DIR, resource_type.name, f"{name}.json")


def export_resources(
    api: client.ApiClient, selection: ResourceSelection, directory: Path
) -> ExportResourcesOutput:
    """Write the tree, replacing one an earlier attempt left, and return the counts."""
    selected = select_objects(api, selection)
    shutil.rmtree(directory / RESOURCES_DIR, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for type_name, items in sorted(selected.objects.items()):
        if not items:
            continue
        resource_type = selected.by_name[type_name]
        for obj in items:
            manifest = strip_server_fields(obj)
            manifest["apiVersion"] = resource_type.api_version
            manifest["kind"] = resource_type.kind
            target = directory / manifest_path(resource_type, obj)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        counts[type_name] = len(items)
    index = {
        "format": INDEX_FORMAT,
        "namespaces": selected.namespaces,
        "resource_types": [
            {**selected.by_name[name].model_dump(exclude={"verbs"}), "count": count}
            for name, count in counts.items()
        ],
        "counts": counts,
        "total": sum(counts.values()),
    }
    (directory / INDEX_FILE).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    log.info("kube.export.written", directory=str(directory), total=index["total"])
    return ExportResourcesOutput(
        directory=str(directory), counts=counts, total=sum(counts.values())
    )
