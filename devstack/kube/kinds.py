"""The resource types the emulated API server serves, as data.

Built-in kinds are one table; custom resources get the same `KindInfo` from their CRD, so
every handler, discovery document and controller treats both alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

STANDARD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")
# Every kind supports these field selectors; kinds add their own in `field_labels`.
COMMON_FIELD_LABELS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class KindInfo:
    """One served resource type: where it lives in the URL space and how it behaves."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_labels: tuple[str, ...] = ()
    # Dotted paths a create or update must carry, else 422 Invalid (a small stand-in for
    # the API server's validation; enough that broken manifests fail as they would).
    required: tuple[str, ...] = ()
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are stored once per group and resource, whatever version serves them."""
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def supports_field(self, label: str) -> bool:
        return label in COMMON_FIELD_LABELS or label in self.field_labels


def _k(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
    required: tuple[str, ...] = (),
) -> KindInfo:
    return KindInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        subresources=sub,
        categories=cats,
        field_labels=fields,
        required=required,
    )


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_WORKLOAD = ("spec.selector", "spec.template")

BUILTIN_KINDS: tuple[KindInfo, ...] = (
    _k("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",),
       sub=("status", "finalize"), fields=("status.phase",)),
    _k("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status",),
       fields=("spec.unschedulable",)),
    _k("", "v1", "Pod", "pods", short=("po",), sub=("status",), cats=("all",),
       fields=_POD_FIELDS, required=("spec.containers",)),
    _k("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",),
       sub=("status",), required=("spec.accessModes", "spec.resources.requests.storage")),
    _k("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",),
       sub=("status",), required=("spec.capacity.storage", "spec.accessModes")),
    _k("", "v1", "Secret", "secrets", fields=("type",)),
    _k("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _k("", "v1", "Service", "services", short=("svc",), sub=("status",), cats=("all",)),
    _k("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _k("", "v1", "Event", "events", short=("ev",), fields=_EVENT_FIELDS,
       required=("involvedObject",)),
    _k("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _k("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _k("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _k("apps", "v1", "Deployment", "deployments", short=("deploy",), sub=("status", "scale"),
       cats=("all",), required=_WORKLOAD),
    _k("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), sub=("status", "scale"),
       cats=("all",), required=_WORKLOAD),
    _k("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), sub=("status", "scale"),
       cats=("all",), required=_WORKLOAD),
    _k("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), sub=("status",), cats=("all",),
       required=_WORKLOAD),
    _k("batch", "v1", "Job", "jobs", sub=("status",), cats=("all",), required=("spec.template",)),
    _k("batch", "v1", "CronJob", "cronjobs", short=("cj",), sub=("status",), cats=("all",),
       required=("spec.schedule", "spec.jobTemplate")),
    _k("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _k("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", required=("roleRef",)),
    _k("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _k("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
       namespaced=False, required=("roleRef",)),
    _k("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False,
       short=("sc",), required=("provisioner",)),
    _k("storage.k8s.io", "v1", "CSIDriver", "csidrivers", namespaced=False),
    _k("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _k("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _k("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
       sub=("status",)),
    _k("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
       namespaced=False, short=("crd", "crds"), sub=("status",),
       required=("spec.group", "spec.names.plural", "spec.names.kind", "spec.scope",
                 "spec.versions")),
)  # fmt: skip

_BUILTIN_BY_KIND = {(k.group, k.kind): k for k in BUILTIN_KINDS}


def builtin(group: str, kind: str) -> KindInfo:
    """The built-in kind, for code that names one (controllers, bootstrap)."""
    return _BUILTIN_BY_KIND[(group, kind)]


def kinds_from_crd(crd: dict[str, Any]) -> list[KindInfo]:
    """The served versions of one CRD, as kinds; storage is shared across versions."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    served = [v for v in spec.get("versions", []) if v.get("served")]
    kinds = []
    for version in served:
        sub = version.get("subresources") or {}
        kinds.append(
            KindInfo(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                subresources=tuple(s for s in ("status", "scale") if s in sub),
                categories=tuple(names.get("categories") or ()),
                custom=True,
            )
        )
    return kinds


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def _version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes' version priority: GA > beta > alpha, then by number, then by name."""
    match = _VERSION_RE.match(version)
    if not match:
        return (0, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {"alpha": 1, "beta": 2, None: 3}[stage]
    return (rank, int(major), int(minor or 0), "")


def sort_versions(versions: Iterable[str]) -> list[str]:
    """Highest priority first, as discovery lists them."""
    return sorted(versions, key=_version_priority, reverse=True)


class Registry:
    """Looks kinds up by URL coordinates or by kind; rebuilt when CRDs change."""

    def __init__(self, kinds: Iterable[KindInfo]) -> None:
        self._kinds = list(kinds)
        self._by_path = {(k.group, k.version, k.plural): k for k in self._kinds}

    def __iter__(self) -> Iterator[KindInfo]:
        return iter(self._kinds)

    def by_path(self, group: str, version: str, plural: str) -> KindInfo | None:
        return self._by_path.get((group, version, plural))

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> served versions, highest priority first; "" is the core group."""
        groups: dict[str, set[str]] = {}
        for kind in self._kinds:
            groups.setdefault(kind.group, set()).add(kind.version)
        return {g: sort_versions(vs) for g, vs in groups.items()}

    def in_group_version(self, group: str, version: str) -> list[KindInfo]:
        return [k for k in self._kinds if k.group == group and k.version == version]

    def storage_keys(self) -> set[tuple[str, str]]:
        return {k.storage_key for k in self._kinds}
