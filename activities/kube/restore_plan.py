"""Which backed-up objects a restore recreates, rewritten for the target, in what order.

Pure: no cluster access, so every rule is testable from manifests alone.

Selection is by the *backed-up* namespaces and labels. Cluster-scoped objects follow
``selection.cluster_scoped``: ``on`` takes all of the included types (Namespace objects
only for included namespaces), ``off`` none, ``auto`` those the selected namespaced objects
refer to: their namespaces, the PVs of their claims, the storage classes they use (unless
mapped to another), the CRDs of their custom resource types and the ClusterRoles their
RoleBindings bind. ``auto`` ignores the included types and the label selector for these
(a ConfigMap needs its namespace) but honours explicitly excluded types.

Never restored, each reported as skipped with the reason:

- runtime state the target rebuilds or that belongs to the source cluster's machines:
  nodes, events, endpoints, endpoint slices, leases, CSI nodes, volume attachments,
  component statuses, controller revisions;
- VolumeSnapshots and their contents: they point into the source cluster's storage; volume
  data comes from the recovery point instead;
- pods, ReplicaSets and Jobs made by a controller that is itself restored (or re-made by
  one): the controller makes them again, with new uids;
- mirror pods (a node's static pods);
- dynamically provisioned PVs (``pv.kubernetes.io/provisioned-by``): the restored claim
  provisions a new volume through its (mapped) storage class;
- the ``kube-root-ca.crt`` ConfigMap and the ``default`` service account's token secrets:
  the target cluster publishes its own;
- anything Lifeboat itself created for a run (``app.kubernetes.io/managed-by: lifeboat``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from activities.kube.discovery import NEVER_BACKED_UP
from activities.kube.rest import Obj
from activities.kube.restore_transform import (
    SERVICE_ACCOUNT_NAME_ANNOTATION,
    SERVICE_ACCOUNT_TOKEN,
    RestoreContext,
    provisioning_classes,
    restored_manifest,
    storage_classes_used,
)
from activities.kube.restore_tree import ExportedObject
from lifeboat.contracts.kube import MANAGED_BY, MANAGED_BY_LABEL
from lifeboat.contracts.restore import RestoreStage
from lifeboat.models import ClusterScoped, RestoreRequest, parse_label_selector, selector_matches
from lifeboat.models.selection import ResourceSelection

PROVISIONED_BY_ANNOTATION = "pv.kubernetes.io/provisioned-by"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
CRDS = "customresourcedefinitions.apiextensions.k8s.io"

NEVER_RESTORED: Mapping[str, str] = {
    **{name: "runtime state the target cluster rebuilds" for name in NEVER_BACKED_UP},
    "controllerrevisions.apps": "history its controller writes again",
    "volumesnapshots.snapshot.storage.k8s.io": "a snapshot in the source cluster's storage; "
    "volume data comes from the recovery point",
    "volumesnapshotcontents.snapshot.storage.k8s.io": "a snapshot in the source cluster's "
    "storage; volume data comes from the recovery point",
}
"""Resource types never restored, with the reason reported."""

# Restore order: stage by stage; within a stage, in the order listed, then the rest.
STAGE_ORDER: Mapping[RestoreStage, tuple[str, ...]] = {
    RestoreStage.DEFINITIONS: (CRDS,),
    RestoreStage.NAMESPACES: ("namespaces",),
    RestoreStage.STORAGE: (
        "storageclasses.storage.k8s.io",
        "persistentvolumes",
        "persistentvolumeclaims",
    ),
    RestoreStage.CONFIGURATION: (
        "priorityclasses.scheduling.k8s.io",
        "resourcequotas",
        "limitranges",
        "secrets",
        "configmaps",
    ),
    RestoreStage.IDENTITY: (
        "serviceaccounts",
        "clusterroles.rbac.authorization.k8s.io",
        "roles.rbac.authorization.k8s.io",
        "clusterrolebindings.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
    ),
    RestoreStage.WORKLOADS: (
        "services",
        "deployments.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "replicasets.apps",
        "replicationcontrollers",
        "cronjobs.batch",
        "jobs.batch",
        "pods",
    ),
}
_POSITION = {
    resource: (list(RestoreStage).index(stage), index)
    for stage, resources in STAGE_ORDER.items()
    for index, resource in enumerate(resources)
}
_STAGE_OF = {resource: stage for stage, names in STAGE_ORDER.items() for resource in names}
# Kinds a controller makes from its template; restored only when their controller is not.
_CONTROLLED = {("", "Pod"), ("apps", "ReplicaSet"), ("batch", "Job")}

Key = tuple[str, str, str | None, str]
"""(group, kind, namespace, name): how owner references find their owner."""


@dataclass(frozen=True)
class PlannedObject:
    source: ExportedObject
    stage: RestoreStage
    manifest: Obj
    """Rewritten for the target cluster."""

    @property
    def namespace(self) -> str | None:
        namespace: str | None = self.manifest["metadata"].get("namespace")
        return namespace

    @property
    def name(self) -> str:
        name: str = self.manifest["metadata"]["name"]
        return name

    def __str__(self) -> str:
        scope = f"{self.namespace}/" if self.namespace else ""
        return f"{self.source.kind} {scope}{self.name}"


@dataclass(frozen=True)
class NotRestored:
    source: ExportedObject
    reason: str


@dataclass(frozen=True)
class RestorePlan:
    objects: tuple[PlannedObject, ...]
    """In restore order."""
    not_restored: tuple[NotRestored, ...]
    storage_classes: Mapping[str, tuple[str, ...]]
    """Storage class the restore needs in the target -> what needs it (for messages)."""

    @property
    def restored_storage_classes(self) -> frozenset[str]:
        return frozenset(
            p.name for p in self.objects if p.source.resource == "storageclasses.storage.k8s.io"
        )

    def stage(self, stage: RestoreStage) -> list[PlannedObject]:
        return [p for p in self.objects if p.stage == stage]


def stage_of(obj: ExportedObject) -> RestoreStage:
    return _STAGE_OF.get(obj.resource, RestoreStage.OTHERS)


def plan_restore(
    exported: Sequence[ExportedObject], request: RestoreRequest, run_id: str
) -> RestorePlan:
    selected = _select(exported, request.selection, request.storage_class_mapping)
    not_restored: list[NotRestored] = []
    kept: list[ExportedObject] = []
    for obj in selected:
        reason = never_restored_reason(obj)
        if reason is None:
            kept.append(obj)
        else:
            not_restored.append(NotRestored(obj, reason))
    kept, remade = _without_controlled(kept)
    not_restored.extend(remade)
    context = RestoreContext(
        run_id=run_id,
        recovery_point=request.recovery_point,
        replication=request.replication,
        namespace_mapping=request.namespace_mapping,
        storage_class_mapping=request.storage_class_mapping,
        static_pvs=frozenset(o.name for o in kept if o.resource == "persistentvolumes"),
    )
    planned = [PlannedObject(o, stage_of(o), restored_manifest(o, context)) for o in kept]
    planned.sort(key=_order)
    needs: defaultdict[str, list[str]] = defaultdict(list)
    for target in request.storage_class_mapping.values():
        needs[target].append("storage_class_mapping")
    for p in planned:
        for storage_class in provisioning_classes(p.manifest, p.source.group, p.source.kind):
            needs[storage_class].append(str(p))
    return RestorePlan(
        objects=tuple(planned),
        not_restored=tuple(not_restored),
        storage_classes={k: tuple(v) for k, v in needs.items()},
    )


def never_restored_reason(obj: ExportedObject) -> str | None:
    """Why an object is never restored, whatever the selection; None if it may be."""
    if obj.resource in NEVER_RESTORED:
        return NEVER_RESTORED[obj.resource]
    if obj.labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
        return "made by Lifeboat for one of its runs"
    match (obj.group, obj.kind):
        case ("", "PersistentVolume") if PROVISIONED_BY_ANNOTATION in obj.annotations:
            return "dynamically provisioned: its restored claim provisions a new volume"
        case ("", "ConfigMap") if obj.name == ROOT_CA_CONFIG_MAP:
            return "the target cluster publishes its own CA bundle in every namespace"
        case ("", "Secret") if (
            obj.manifest.get("type") == SERVICE_ACCOUNT_TOKEN
            and obj.annotations.get(SERVICE_ACCOUNT_NAME_ANNOTATION) == "default"
        ):
            return "a token of the default service account; the target cluster makes its own"
        case ("", "Pod") if MIRROR_POD_ANNOTATION in obj.annotations:
            return "a mirror of a node's static pod"
    return None


def _select(
    exported: Sequence[ExportedObject],
    selection: ResourceSelection,
    storage_class_mapping: Mapping[str, str],
) -> list[ExportedObject]:
    requirements = parse_label_selector(selection.label_selector or "")

    def included(obj: ExportedObject) -> bool:
        return selection.includes_resource_type(obj.plural, obj.group) and selector_matches(
            requirements, obj.labels
        )

    namespaced = [
        o
        for o in exported
        if o.namespace is not None and selection.includes_namespace(o.namespace) and included(o)
    ]
    cluster_scoped = [o for o in exported if o.namespace is None]
    match selection.cluster_scoped:
        case ClusterScoped.OFF:
            return namespaced
        case ClusterScoped.ON:
            return namespaced + [
                o
                for o in cluster_scoped
                if included(o)
                and (o.resource != "namespaces" or selection.includes_namespace(o.name))
            ]
    referred = _referred(namespaced, storage_class_mapping)
    excluded = ResourceSelection(include_resource_types=selection.exclude_resource_types)
    return namespaced + [
        o
        for o in cluster_scoped
        if (o.resource, o.name) in referred
        and not (
            selection.exclude_resource_types and excluded.includes_resource_type(o.plural, o.group)
        )
    ]


def _referred(
    namespaced: Sequence[ExportedObject], storage_class_mapping: Mapping[str, str]
) -> set[tuple[str, str]]:
    """(resource, name) of the cluster-scoped objects the namespaced ones refer to; a
    storage class mapped to another is not referred to any more."""
    referred: set[tuple[str, str]] = set()
    for obj in namespaced:
        assert obj.namespace is not None
        referred.add(("namespaces", obj.namespace))
        if obj.group:  # a CRD of that name exists only for custom resources
            referred.add((CRDS, obj.resource))
        for storage_class in storage_classes_used(obj.manifest, obj.group, obj.kind):
            if storage_class not in storage_class_mapping:
                referred.add(("storageclasses.storage.k8s.io", storage_class))
        spec = obj.manifest.get("spec") or {}
        match (obj.group, obj.kind):
            case ("", "PersistentVolumeClaim") if spec.get("volumeName"):
                referred.add(("persistentvolumes", spec["volumeName"]))
            case ("rbac.authorization.k8s.io", "RoleBinding"):
                role_ref = obj.manifest.get("roleRef") or {}
                if role_ref.get("kind") == "ClusterRole":
                    referred.add(("clusterroles.rbac.authorization.k8s.io", role_ref["name"]))
    return referred


def _key(obj: ExportedObject) -> Key:
    return (obj.group, obj.kind, obj.namespace, obj.name)


def _controller_key(obj: ExportedObject) -> Key | None:
    for ref in obj.manifest.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            group = ref.get("apiVersion", "").rpartition("/")[0]
            return (group, ref.get("kind", ""), obj.namespace, ref.get("name", ""))
    return None


def _without_controlled(
    objects: list[ExportedObject],
) -> tuple[list[ExportedObject], list[NotRestored]]:
    """Drop what a controller among the restored objects makes again. Chains work out:
    a Pod's ReplicaSet is among them even when its Deployment re-makes it."""
    present = {_key(o) for o in objects}
    kept: list[ExportedObject] = []
    remade: list[NotRestored] = []
    for obj in objects:
        owner = _controller_key(obj)
        if (obj.group, obj.kind) in _CONTROLLED and owner in present:
            assert owner is not None
            reason = f"its controller {owner[1]} {owner[3]} makes it again"
            remade.append(NotRestored(obj, reason))
        else:
            kept.append(obj)
    return kept, remade


def _order(planned: PlannedObject) -> tuple[int, int, str, str, str]:
    stage_index = list(RestoreStage).index(planned.stage)
    _, within = _POSITION.get(planned.source.resource, (stage_index, len(_POSITION)))
    return (stage_index, within, planned.source.resource, planned.namespace or "", planned.name)
