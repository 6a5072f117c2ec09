"""Policy ``update``: the backed-up object replaces the existing one, except where the API
server forbids a change (immutable fields) or the cluster owns the value.

The replacement keeps from the existing object: its resourceVersion (an optimistic-lock
update), ownerReferences and finalizers (this cluster's controllers set them), and the
immutable fields below. Where a kept field's backed-up value differs, the result names it,
so a person sees what the restore could not change.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from activities.kube.rest import Obj

# (group, kind) -> dotted paths kept from the existing object. Whole-spec entries are for
# kinds whose spec is immutable after creation but for a few fields the cluster manages.
IMMUTABLE_FIELDS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("", "Service"): ("spec.clusterIP", "spec.clusterIPs", "spec.ipFamilies"),
    ("", "PersistentVolumeClaim"): ("spec",),
    ("", "PersistentVolume"): ("spec",),
    ("", "Pod"): ("spec",),
    ("", "Secret"): ("type",),
    ("apps", "Deployment"): ("spec.selector",),
    ("apps", "ReplicaSet"): ("spec.selector",),
    ("apps", "DaemonSet"): ("spec.selector",),
    (
        "apps",
        "StatefulSet",
    ): (
        "spec.selector",
        "spec.serviceName",
        "spec.podManagementPolicy",
        "spec.volumeClaimTemplates",
    ),
    ("batch", "Job"): ("spec.selector", "spec.template", "spec.completions", "spec.completionMode"),
    ("storage.k8s.io", "StorageClass"): (
        "provisioner",
        "parameters",
        "reclaimPolicy",
        "volumeBindingMode",
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): ("roleRef",),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): ("roleRef",),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): ("spec.scope",),
}
IMMUTABLE_DATA_FIELDS = ("data", "binaryData", "immutable")
"""Of a ConfigMap or Secret marked ``immutable: true`` in the cluster."""

_MISSING = object()


def replacement(group: str, kind: str, desired: Obj, existing: Obj) -> tuple[Obj, list[str]]:
    """The body of the PUT, and the kept fields whose backed-up value differs."""
    body = copy.deepcopy(desired)
    metadata, current = body.setdefault("metadata", {}), existing.get("metadata") or {}
    metadata["resourceVersion"] = current.get("resourceVersion")
    for key in ("ownerReferences", "finalizers"):
        if current.get(key):
            metadata[key] = current[key] + [
                item for item in metadata.get(key) or [] if item not in current[key]
            ]
    paths = list(IMMUTABLE_FIELDS.get((group, kind), ()))
    if kind in ("ConfigMap", "Secret") and not group and existing.get("immutable"):
        paths.extend(IMMUTABLE_DATA_FIELDS)
    differing = []
    for path in paths:
        wanted, kept = _get(desired, path), _get(existing, path)
        if wanted is not _MISSING and not _covers(kept, wanted):
            differing.append(path)
        _set(body, path, kept)
    return body, differing


def _covers(existing: Any, wanted: Any) -> bool:
    """Whether ``existing`` holds everything ``wanted`` says; values the API server
    defaulted (present only in ``existing``) are no difference."""
    if isinstance(wanted, dict) and isinstance(existing, dict):
        return all(k in existing and _covers(existing[k], v) for k, v in wanted.items())
    if isinstance(wanted, list) and isinstance(existing, list):
        return len(wanted) == len(existing) and all(map(_covers, existing, wanted))
    return bool(existing == wanted)


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _set(obj: Obj, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    if value is _MISSING:
        obj.pop(last, None)
    else:
        obj[last] = copy.deepcopy(value)
