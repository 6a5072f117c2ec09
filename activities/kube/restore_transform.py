"""Rewriting a backed-up manifest into one the target cluster accepts and binds afresh.

What a real cluster needs changed, and why:

- Server-populated metadata (uid, resourceVersion, timestamps, managedFields) and status
  are the old cluster's; the API server sets its own.
- ``ownerReferences`` are dropped: owners get new uids, and a reference to a uid that does
  not exist makes the garbage collector delete the dependent. Controllers re-adopt what
  they own (a StatefulSet its claims, a Deployment its ReplicaSets).
- Namespace mapping: ``metadata.namespace``, the Namespace object's own name (and its
  ``kubernetes.io/metadata.name`` label, which the API server sets), the namespace of
  RoleBinding/ClusterRoleBinding subjects and of a static PV's ``claimRef``. Namespaces
  inside free text (DNS names in env vars, custom resources' fields) are not rewritten.
- Storage class mapping: ``spec.storageClassName`` of PVCs and PVs, and of StatefulSet
  ``volumeClaimTemplates``.
- Claims are re-provisioned: a PVC loses ``spec.volumeName`` (unless its PV is a restored
  static one), its data source (a snapshot or claim of the old cluster) and the binding
  annotations the PV controller and scheduler write (``pv.kubernetes.io/bind-completed``,
  ``bound-by-controller``, ``volume.kubernetes.io/selected-node``, the storage-provisioner
  ones); the mapped storage class provisions a new volume and data comes from the backup.
  A static PV keeps its source; its ``claimRef`` loses the old claim's uid.
- Pods lose ``spec.nodeName`` (the scheduler places them; the old node may not exist) and
  the ``kube-api-access-*`` token volume the service account admission adds again.
- Services lose ``clusterIP``/``clusterIPs`` (unless headless, ``None``) and node ports:
  they are allocated per cluster and may be taken in the target.
- A Job without ``manualSelector`` loses its selector and the ``controller-uid`` labels the
  API server derived from the old uid; the new Job gets its own.
- A service account token secret loses its data; the target's token controller signs a new
  token. A ServiceAccount drops references to the old cluster's generated token secrets.
- Every restored object is labelled ``lifeboat.io/restored-from: <recovery point>`` and
  ``lifeboat.io/run: <run id>``; a replication's also ``lifeboat.io/replicated-by: <name>``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from activities.kube.rest import Obj
from activities.kube.restore_tree import ExportedObject
from lifeboat.contracts.kube import REPLICATED_BY_LABEL, RUN_LABEL

RESTORED_FROM_LABEL = "lifeboat.io/restored-from"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"  # noqa: S105 (a Secret type)
SERVICE_ACCOUNT_NAME_ANNOTATION = "kubernetes.io/service-account.name"
TOKEN_VOLUME_PREFIX = "kube-api-access-"  # noqa: S105 (a volume name)
LABEL_VALUE_MAX = 63

SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
BINDING_ANNOTATIONS = (
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/selected-node",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)
JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


@dataclass(frozen=True)
class RestoreContext:
    """What every rewrite needs to know about the run."""

    run_id: str
    recovery_point: str
    replication: str | None = None
    namespace_mapping: Mapping[str, str] = field(default_factory=dict)
    storage_class_mapping: Mapping[str, str] = field(default_factory=dict)
    static_pvs: frozenset[str] = frozenset()
    """PVs restored as they are (not dynamically provisioned): their claims keep volumeName."""

    def namespace(self, namespace: str) -> str:
        return self.namespace_mapping.get(namespace, namespace)

    def storage_class(self, storage_class: str) -> str:
        return self.storage_class_mapping.get(storage_class, storage_class)

    @property
    def labels(self) -> dict[str, str]:
        labels = {
            RESTORED_FROM_LABEL: fit_label_value(self.recovery_point),
            RUN_LABEL: self.run_id,
        }
        if self.replication is not None:
            labels[REPLICATED_BY_LABEL] = self.replication
        return labels


def fit_label_value(text: str) -> str:
    """``text`` itself when it is short enough for a label value, else a unique shortening."""
    if len(text) <= LABEL_VALUE_MAX:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{text[: LABEL_VALUE_MAX - len(digest) - 1].rstrip('-_.')}-{digest}"


def restored_manifest(obj: ExportedObject, context: RestoreContext) -> Obj:
    """The manifest to create in the target cluster (a new dict; the export is untouched)."""
    manifest = copy.deepcopy(obj.manifest)
    manifest.pop("status", None)
    metadata = manifest.setdefault("metadata", {})
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    if obj.namespace is not None:
        metadata["namespace"] = context.namespace(obj.namespace)
    metadata["labels"] = {**(metadata.get("labels") or {}), **context.labels}
    rewrite = _REWRITES.get((obj.group, obj.kind))
    if rewrite is not None:
        rewrite(manifest, context)
    return manifest


def _without(mapping: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in (mapping or {}).items() if k not in keys}


def _namespace(manifest: Obj, context: RestoreContext) -> None:
    metadata = manifest["metadata"]
    metadata["name"] = context.namespace(metadata["name"])
    metadata["labels"] = _without(metadata["labels"], (NAMESPACE_NAME_LABEL,))


def _pod(manifest: Obj, context: RestoreContext) -> None:
    spec = manifest.get("spec") or {}
    spec.pop("nodeName", None)
    tokens = {
        v["name"]
        for v in spec.get("volumes") or []
        if v.get("name", "").startswith(TOKEN_VOLUME_PREFIX) and "projected" in v
    }
    if tokens:
        spec["volumes"] = [v for v in spec["volumes"] if v["name"] not in tokens]
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            mounts = container.get("volumeMounts") or []
            container["volumeMounts"] = [m for m in mounts if m.get("name") not in tokens]


def _service(manifest: Obj, context: RestoreContext) -> None:
    spec = manifest.get("spec") or {}
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    spec.pop("healthCheckNodePort", None)
    for port in spec.get("ports") or []:
        port.pop("nodePort", None)


def _claim_spec(spec: dict[str, Any], context: RestoreContext) -> None:
    if spec.get("storageClassName"):
        spec["storageClassName"] = context.storage_class(spec["storageClassName"])


def _persistent_volume_claim(manifest: Obj, context: RestoreContext) -> None:
    metadata, spec = manifest["metadata"], manifest.get("spec") or {}
    metadata["annotations"] = _without(metadata.get("annotations"), BINDING_ANNOTATIONS)
    _claim_spec(spec, context)
    if spec.get("volumeName") not in context.static_pvs:
        spec.pop("volumeName", None)
    spec.pop("dataSource", None)
    spec.pop("dataSourceRef", None)


def _persistent_volume(manifest: Obj, context: RestoreContext) -> None:
    metadata, spec = manifest["metadata"], manifest.get("spec") or {}
    metadata["annotations"] = _without(metadata.get("annotations"), BINDING_ANNOTATIONS)
    _claim_spec(spec, context)
    claim_ref = spec.get("claimRef")
    if claim_ref:
        spec["claimRef"] = {
            **_without(claim_ref, ("uid", "resourceVersion")),
            "namespace": context.namespace(claim_ref.get("namespace", "")),
        }


def _stateful_set(manifest: Obj, context: RestoreContext) -> None:
    for template in (manifest.get("spec") or {}).get("volumeClaimTemplates") or []:
        _claim_spec(template.setdefault("spec", {}), context)


def _job(manifest: Obj, context: RestoreContext) -> None:
    spec = manifest.get("spec") or {}
    if spec.get("manualSelector"):
        return
    spec.pop("selector", None)
    template_metadata = (spec.get("template") or {}).get("metadata") or {}
    if "labels" in template_metadata:
        template_metadata["labels"] = _without(template_metadata["labels"], JOB_UID_LABELS)
    manifest["metadata"]["labels"] = _without(manifest["metadata"]["labels"], JOB_UID_LABELS)


def _binding(manifest: Obj, context: RestoreContext) -> None:
    for subject in manifest.get("subjects") or []:
        if subject.get("namespace"):
            subject["namespace"] = context.namespace(subject["namespace"])


def _service_account(manifest: Obj, context: RestoreContext) -> None:
    generated = f"{manifest['metadata']['name']}-token-"
    if "secrets" in manifest:
        manifest["secrets"] = [
            s for s in manifest["secrets"] or [] if not s.get("name", "").startswith(generated)
        ]


def _secret(manifest: Obj, context: RestoreContext) -> None:
    if manifest.get("type") == SERVICE_ACCOUNT_TOKEN:
        manifest.pop("data", None)
        manifest.pop("stringData", None)


_REWRITES: dict[tuple[str, str], Callable[[Obj, RestoreContext], None]] = {
    ("", "Namespace"): _namespace,
    ("", "Pod"): _pod,
    ("", "Service"): _service,
    ("", "PersistentVolumeClaim"): _persistent_volume_claim,
    ("", "PersistentVolume"): _persistent_volume,
    ("", "ServiceAccount"): _service_account,
    ("", "Secret"): _secret,
    ("apps", "StatefulSet"): _stateful_set,
    ("batch", "Job"): _job,
    ("rbac.authorization.k8s.io", "RoleBinding"): _binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _binding,
}


def storage_classes_used(manifest: Obj, group: str, kind: str) -> set[str]:
    """The storage classes a manifest names; '' (no class) is not one."""
    spec = manifest.get("spec") or {}
    specs: list[dict[str, Any]] = []
    if (group, kind) in (("", "PersistentVolumeClaim"), ("", "PersistentVolume")):
        specs.append(spec)
    elif (group, kind) == ("apps", "StatefulSet"):
        specs.extend(t.get("spec") or {} for t in spec.get("volumeClaimTemplates") or [])
    return {s["storageClassName"] for s in specs if s.get("storageClassName")}


def provisioning_classes(manifest: Obj, group: str, kind: str) -> set[str]:
    """The storage classes that must exist for a (rewritten) manifest's volumes to be
    provisioned: those of claims not pre-bound to a PV, and of StatefulSet claim templates.
    A PV's class, and a pre-bound claim's, are only matched by name."""
    if (group, kind) == ("", "PersistentVolume"):
        return set()
    if (group, kind) == ("", "PersistentVolumeClaim") and (manifest.get("spec") or {}).get(
        "volumeName"
    ):
        return set()
    return storage_classes_used(manifest, group, kind)
