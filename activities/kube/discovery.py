"""Which resource types a cluster serves, and which of them a backup walks.

Discovery over `/api` and `/apis` at each group's preferred version (the version the API
server converts every stored object to, so one copy of each object is saved), without
subresources.

Types never backed up, as Velero does by default, because a restore must not bring them
back: they are runtime state the cluster rebuilds or that belongs to one machine:

- ``nodes``, ``csinodes.storage.k8s.io``, ``volumeattachments.storage.k8s.io``: machines
  and attachments of this cluster; another cluster has its own.
- ``events``, ``events.events.k8s.io``: a log, not state; they expire within an hour.
- ``endpoints``, ``endpointslices.discovery.k8s.io``: rebuilt from Services and Pods.
- ``leases.coordination.k8s.io``: leader election and node heartbeats.
- ``componentstatuses``: a read-only report.

Types that cannot be listed and created (``tokenreviews``, ``bindings``...) are skipped
too: they cannot be read back or restored.
"""

from __future__ import annotations

import structlog
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from activities.kube import rest
from lifeboat.contracts.kube import ObjectRef, ResourceType

log = structlog.get_logger(__name__)

NEVER_BACKED_UP = frozenset(
    {
        "nodes",
        "csinodes.storage.k8s.io",
        "volumeattachments.storage.k8s.io",
        "events",
        "events.events.k8s.io",
        "endpoints",
        "endpointslices.discovery.k8s.io",
        "leases.coordination.k8s.io",
        "componentstatuses",
    }
)
REQUIRED_VERBS = frozenset({"list", "create"})


def served_resource_types(api: client.ApiClient) -> list[ResourceType]:
    """Every served type at its group's preferred version, core group first."""
    group_versions = [("", version) for version in rest.get(api, "/api").get("versions", [])[:1]]
    for group in rest.get(api, "/apis").get("groups") or []:
        preferred = group.get("preferredVersion") or (group.get("versions") or [{}])[0]
        if preferred.get("version"):
            group_versions.append((group["name"], preferred["version"]))
    types: list[ResourceType] = []
    for group, version in group_versions:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            resources = rest.get(api, path).get("resources") or []
        except ApiException as exc:
            # An aggregated API whose backend is down answers 503; the rest still counts.
            log.warning("kube.discovery.group_unavailable", group_version=path, status=exc.status)
            continue
        types.extend(
            ResourceType(
                group=group,
                version=version,
                kind=resource["kind"],
                plural=resource["name"],
                namespaced=bool(resource.get("namespaced")),
                verbs=sorted(resource.get("verbs") or []),
            )
            for resource in resources
            if "/" not in resource["name"]
        )
    return types


def is_backed_up(resource_type: ResourceType) -> bool:
    return resource_type.name not in NEVER_BACKED_UP and set(resource_type.verbs) >= REQUIRED_VERBS


def backup_resource_types(api: client.ApiClient) -> list[ResourceType]:
    """The served types a backup may save, before the selection narrows them."""
    return [t for t in served_resource_types(api) if is_backed_up(t)]


def find_type(types: list[ResourceType], group: str, plural: str) -> ResourceType | None:
    return next((t for t in types if t.group == group and t.plural == plural), None)


def api_base(api_version: str) -> str:
    """``/api/v1`` for the core group, ``/apis/<group>/<version>`` for the others."""
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


def collection_path(resource_type: ResourceType, namespace: str | None = None) -> str:
    """The collection's path; for a namespaced type without a namespace, all namespaces."""
    return _collection(resource_type.api_version, resource_type.plural, namespace)


def object_path(resource_type: ResourceType, namespace: str | None, name: str) -> str:
    return f"{collection_path(resource_type, namespace)}/{name}"


def ref_path(ref: ObjectRef) -> str:
    return f"{_collection(ref.api_version, ref.plural, ref.namespace)}/{ref.name}"


def ref_of(resource_type: ResourceType, obj: rest.Obj) -> ObjectRef:
    meta = obj["metadata"]
    return ObjectRef(
        api_version=resource_type.api_version,
        kind=resource_type.kind,
        plural=resource_type.plural,
        namespace=meta.get("namespace") if resource_type.namespaced else None,
        name=meta["name"],
    )


def _collection(api_version: str, plural: str, namespace: str | None) -> str:
    if namespace is not None:
        return f"{api_base(api_version)}/namespaces/{namespace}/{plural}"
    return f"{api_base(api_version)}/{plural}"


def _builtin(group: str, version: str, kind: str, plural: str, namespaced: bool) -> ResourceType:
    return ResourceType(
        group=group, version=version, kind=kind, plural=plural, namespaced=namespaced, verbs=[]
    )


# The types backup reasons about by name, at the versions every supported cluster serves.
NAMESPACES = _builtin("", "v1", "Namespace", "namespaces", False)
PODS = _builtin("", "v1", "Pod", "pods", True)
PVCS = _builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True)
PVS = _builtin("", "v1", "PersistentVolume", "persistentvolumes", False)
STORAGE_CLASSES = _builtin("storage.k8s.io", "v1", "StorageClass", "storageclasses", False)
CLUSTER_ROLES = _builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False)
CRDS = _builtin(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
)
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
VOLUME_SNAPSHOTS = _builtin(SNAPSHOT_GROUP, "v1", "VolumeSnapshot", "volumesnapshots", True)
VOLUME_SNAPSHOT_CONTENTS = _builtin(
    SNAPSHOT_GROUP, "v1", "VolumeSnapshotContent", "volumesnapshotcontents", False
)
VOLUME_SNAPSHOT_CLASSES = _builtin(
    SNAPSHOT_GROUP, "v1", "VolumeSnapshotClass", "volumesnapshotclasses", False
)
