"""The objects a `ResourceSelection` covers, and the volumes among them.

Selection rules (an object must pass every one; exclusions win over inclusions):

- Namespaced objects: their type is included, their namespace is included (names or
  globs), and their labels match the label selector (filtered by the API server).
- The Namespace objects of the included namespaces are saved whenever ``namespaces`` is an
  included type and ``cluster_scoped`` is not ``off``, whatever their labels: a restore
  needs them to put anything back.
- ``cluster_scoped: on``: every cluster-scoped object of an included type that matches the
  label selector.
- ``cluster_scoped: auto``: the cluster-scoped objects the namespaced selection refers to,
  whatever their labels (a restore needs them): the PVs bound to selected PVCs, the
  storage classes of those PVCs and PVs, the CRDs of selected custom resources, and the
  ClusterRoles that selected RoleBindings bind. Each only when its type is included.
- ``cluster_scoped: off``: none.
- A run's machinery (mounter pods, temporary PVCs, VolumeSnapshots; see
  `lifeboat.contracts.kube.is_machinery`) is never saved. Objects a restore created are.

Volumes are the selected PVCs that are bound, with their PV, storage class, driver,
snapshot class and the pods that mount them; pods are read even when the ``pods`` type is
not selected, since the plan needs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from activities.kube import rest
from activities.kube.discovery import (
    CLUSTER_ROLES,
    CRDS,
    NAMESPACES,
    PODS,
    PVCS,
    PVS,
    STORAGE_CLASSES,
    VOLUME_SNAPSHOT_CLASSES,
    backup_resource_types,
    collection_path,
)
from lifeboat.contracts.kube import (
    Inventory,
    PodUse,
    ResourceType,
    VolumeInfo,
    is_machinery,
)
from lifeboat.models import ClusterScoped, ResourceSelection

DEFAULT_SNAPSHOT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"
PROVISIONED_BY_ANNOTATION = "pv.kubernetes.io/provisioned-by"
PLUGIN_DIRS = {
    "csi": "kubernetes.io~csi",
    "local": "kubernetes.io~local-volume",
    "nfs": "kubernetes.io~nfs",
}
"""The kubelet's directory under ``<pod-uid>/volumes/`` per PV source; other sources are
found by the node agent's glob."""
HOSTNAME_LABEL = "kubernetes.io/hostname"
FEW_NAMESPACES = 5


@dataclass
class Selection:
    """The selected objects by type, in a stable order (type name, namespace, name)."""

    types: list[ResourceType]
    """Every type a backup may save (discovered, not excluded by default)."""
    namespaces: list[str]
    objects: dict[str, list[rest.Obj]] = field(default_factory=dict)
    by_name: dict[str, ResourceType] = field(default_factory=dict)

    def add(self, resource_type: ResourceType, items: Iterable[rest.Obj]) -> None:
        found = self.objects.setdefault(resource_type.name, [])
        known = {_key(o) for o in found}
        found.extend(o for o in items if _key(o) not in known)
        found.sort(key=_key)
        self.by_name[resource_type.name] = resource_type

    def of(self, resource_type: ResourceType) -> list[rest.Obj]:
        return self.objects.get(resource_type.name, [])

    def counts(self) -> dict[str, int]:
        return {name: len(items) for name, items in sorted(self.objects.items()) if items}


def select_objects(api: client.ApiClient, selection: ResourceSelection) -> Selection:
    """Every object the selection covers, read from the cluster now."""
    types = backup_resource_types(api)
    included = [t for t in types if selection.includes_resource_type(t.plural, t.group)]
    namespaces = sorted(
        name
        for ns in rest.list_items(api, collection_path(NAMESPACES))
        if selection.includes_namespace(name := ns["metadata"]["name"])
    )
    result = Selection(types=types, namespaces=namespaces)
    wanted = set(namespaces)
    # A few namespaces are read one by one; many are read in one list per type and filtered.
    scopes: list[str | None] = list(namespaces) if len(namespaces) <= FEW_NAMESPACES else [None]
    for resource_type in included:
        if not resource_type.namespaced:
            continue
        for scope in scopes:
            items = rest.list_items(
                api, collection_path(resource_type, scope), label_selector=selection.label_selector
            )
            result.add(
                resource_type,
                (
                    o
                    for o in items
                    if o["metadata"].get("namespace") in wanted and not _lifeboats(o)
                ),
            )
    if selection.cluster_scoped is ClusterScoped.OFF:
        return result
    by_name = {t.name: t for t in included}
    if NAMESPACES.name in by_name:
        result.add(
            by_name[NAMESPACES.name],
            (rest.get(api, f"{collection_path(NAMESPACES)}/{ns}") for ns in namespaces),
        )
    if selection.cluster_scoped is ClusterScoped.ON:
        for resource_type in included:
            if not resource_type.namespaced and resource_type.name != NAMESPACES.name:
                items = rest.list_items(
                    api, collection_path(resource_type), label_selector=selection.label_selector
                )
                result.add(resource_type, (o for o in items if not _lifeboats(o)))
    else:
        _add_referenced(api, result, by_name)
    return result


def _add_referenced(
    api: client.ApiClient, result: Selection, included: dict[str, ResourceType]
) -> None:
    """``cluster_scoped: auto``: what the namespaced objects refer to."""
    pvcs = result.objects.get(PVCS.name, [])
    pv_names = {n for c in pvcs if (n := c["spec"].get("volumeName"))}
    pvs = [pv for pv in _all(api, PVS) if pv["metadata"]["name"] in pv_names]
    classes = {c["spec"].get("storageClassName") for c in pvcs} | {
        pv["spec"].get("storageClassName") for pv in pvs
    }
    referenced: list[tuple[ResourceType, set[str]]] = [
        (PVS, pv_names),
        (STORAGE_CLASSES, {c for c in classes if c}),
        (CLUSTER_ROLES, _bound_cluster_roles(result)),
        # A CRD is named as its type is (``widgets.demo.example``); only CRs find one.
        (CRDS, {name for name, items in result.objects.items() if items}),
    ]
    for known, names in referenced:
        resource_type = included.get(known.name)
        if resource_type is None or not names:
            continue
        items = pvs if known is PVS else _all(api, resource_type)
        result.add(resource_type, (o for o in items if o["metadata"]["name"] in names))


def _bound_cluster_roles(result: Selection) -> set[str]:
    return {
        binding["roleRef"]["name"]
        for name, items in result.objects.items()
        if name == "rolebindings.rbac.authorization.k8s.io"
        for binding in items
        if binding.get("roleRef", {}).get("kind") == "ClusterRole"
    }


def take_inventory(api: client.ApiClient, selection: ResourceSelection) -> Inventory:
    selected = select_objects(api, selection)
    volumes, warnings = volume_inventory(api, selected.of(PVCS))
    return Inventory(
        resource_types=selected.types,
        namespaces=selected.namespaces,
        object_counts=selected.counts(),
        volumes=volumes,
        warnings=warnings,
    )


def volume_inventory(
    api: client.ApiClient, pvcs: list[rest.Obj]
) -> tuple[list[VolumeInfo], list[str]]:
    """The bound PVCs among `pvcs` with their PVs; a warning for each one left out."""
    if not pvcs:
        return [], []
    pvs = {pv["metadata"]["name"]: pv for pv in _all(api, PVS)}
    classes = {sc["metadata"]["name"]: sc for sc in _all(api, STORAGE_CLASSES)}
    snapshot_classes = _snapshot_classes(api)
    namespaces = {c["metadata"]["namespace"] for c in pvcs}
    pods = [p for p in _all(api, PODS) if p["metadata"]["namespace"] in namespaces]
    volumes, warnings = [], []
    for pvc in pvcs:
        meta = pvc["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        pv = pvs.get(pvc["spec"].get("volumeName") or "")
        if pv is None or (pvc.get("status") or {}).get("phase") != "Bound":
            warnings.append(f"PVC {where} is not bound to a volume; it has no data to back up")
            continue
        volumes.append(_volume(pvc, pv, classes, snapshot_classes, pods))
    return volumes, warnings


def _volume(
    pvc: rest.Obj,
    pv: rest.Obj,
    classes: dict[str, rest.Obj],
    snapshot_classes: list[rest.Obj],
    pods: list[rest.Obj],
) -> VolumeInfo:
    meta, spec = pvc["metadata"], pv["spec"]
    class_name = spec.get("storageClassName") or pvc["spec"].get("storageClassName") or None
    csi_driver = (spec.get("csi") or {}).get("driver")
    driver = (
        csi_driver
        or (classes.get(class_name or "") or {}).get("provisioner")
        or (pv["metadata"].get("annotations") or {}).get(PROVISIONED_BY_ANNOTATION)
    )
    snapshot_class, note = choose_snapshot_class(csi_driver, snapshot_classes)
    return VolumeInfo(
        namespace=meta["namespace"],
        pvc=meta["name"],
        pv=pv["metadata"]["name"],
        storage_class=class_name,
        driver=driver,
        csi=csi_driver is not None,
        plugin_dir=plugin_dir(pv),
        access_modes=list(spec.get("accessModes") or []),
        capacity=str((spec.get("capacity") or {}).get("storage", "")),
        snapshot_class=snapshot_class,
        snapshot_note=note,
        pods=_pods_using(meta["namespace"], meta["name"], pods),
        local_node=local_node(pv),
    )


def choose_snapshot_class(
    csi_driver: str | None, snapshot_classes: list[rest.Obj]
) -> tuple[str | None, str]:
    """The class a snapshot of the driver's volumes uses, as the snapshot controller picks
    it (the one marked default, else the only one), and why in words."""
    if csi_driver is None:
        return None, "it is not a CSI volume, and only CSI drivers take VolumeSnapshots"
    candidates = [c for c in snapshot_classes if c.get("driver") == csi_driver]
    defaults = [
        c
        for c in candidates
        if (c["metadata"].get("annotations") or {}).get(DEFAULT_SNAPSHOT_CLASS_ANNOTATION) == "true"
    ]
    chosen = defaults if len(defaults) == 1 else candidates if len(candidates) == 1 else []
    if chosen:
        name = chosen[0]["metadata"]["name"]
        return name, f"driver {csi_driver} supports snapshots (VolumeSnapshotClass {name})"
    if not candidates:
        return None, f"driver {csi_driver} has no VolumeSnapshotClass"
    return None, (
        f"driver {csi_driver} has {len(candidates)} VolumeSnapshotClasses and "
        f"{len(defaults)} marked default; mark exactly one with "
        f"{DEFAULT_SNAPSHOT_CLASS_ANNOTATION}=true"
    )


def plugin_dir(pv: rest.Obj) -> str | None:
    return next((d for source, d in PLUGIN_DIRS.items() if source in pv["spec"]), None)


def local_node(pv: rest.Obj) -> str | None:
    """The one node a node-bound PV's affinity allows, if it names exactly one."""
    terms = ((pv["spec"].get("nodeAffinity") or {}).get("required") or {}).get(
        "nodeSelectorTerms"
    ) or []
    nodes: set[str] = set()
    for term in terms:
        for expr in (term.get("matchExpressions") or []) + (term.get("matchFields") or []):
            if expr.get("key") in (HOSTNAME_LABEL, "metadata.name") and expr["operator"] == "In":
                nodes.update(expr.get("values") or [])
    return nodes.pop() if len(nodes) == 1 else None


def claims_of(pod: rest.Obj) -> list[str]:
    return [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"].get("volumes") or []
        if v.get("persistentVolumeClaim")
    ]


def _pods_using(namespace: str, claim: str, pods: list[rest.Obj]) -> list[PodUse]:
    return sorted(
        (
            PodUse(
                name=p["metadata"]["name"],
                uid=p["metadata"]["uid"],
                node=p["spec"].get("nodeName") or None,
                phase=(p.get("status") or {}).get("phase") or "Pending",
            )
            for p in pods
            if p["metadata"]["namespace"] == namespace
            and claim in claims_of(p)
            and not p["metadata"].get("deletionTimestamp")
        ),
        key=lambda p: p.name,
    )


def _snapshot_classes(api: client.ApiClient) -> list[rest.Obj]:
    """None without the snapshot CRDs installed: then no driver takes snapshots."""
    try:
        return list(_all(api, VOLUME_SNAPSHOT_CLASSES))
    except ApiException as exc:
        if exc.status == 404:
            return []
        raise


def _all(api: client.ApiClient, resource_type: ResourceType) -> list[rest.Obj]:
    return list(rest.list_items(api, collection_path(resource_type)))


def _lifeboats(obj: rest.Obj) -> bool:
    return is_machinery(obj["metadata"].get("labels") or {})


def _key(obj: rest.Obj) -> tuple[str, str]:
    return obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
