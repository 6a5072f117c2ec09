"""Defaulting and validation on create and update, the parts of the API server's admission
and registry strategies that a backup and restore tool meets in practice.

Restores stumble over exactly these: server-side defaults that appear in every exported
object, allocated cluster IPs and node ports that must not be reused, immutable fields, and
fields a create must not carry.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from collections.abc import Callable
from typing import Any

from .errors import ApiError, forbidden, invalid
from .kinds import KindInfo, builtin
from .selectors import selector_object_matches
from .store import Obj, ObjectStore

DEFAULT_STORAGE_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/16")
NODE_PORTS = range(30000, 32768)
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAMED = {"Namespace", "Service"}
_PATH_SEGMENT_NAMED = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(length))


def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _name_problem(kind: KindInfo, name: str) -> str | None:
    if kind.kind in _PATH_SEGMENT_NAMED:
        bad = name in (".", "..") or "/" in name or "%" in name
        return "may not contain '/' or '%' and may not be '.' or '..'" if bad else None
    if kind.kind in _LABEL_NAMED:
        ok, limit, what = bool(_LABEL.match(name)), 63, "RFC 1123 label"
    else:
        ok, limit, what = bool(_SUBDOMAIN.match(name)), 253, "RFC 1123 subdomain"
    if not ok or len(name) > limit:
        return (
            f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
            "character"
        )
    return None


# --- defaults --------------------------------------------------------------------------


def _default_container(container: dict[str, Any]) -> None:
    image = container.get("image", "")
    tagged = ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")
    container.setdefault("imagePullPolicy", "IfNotPresent" if tagged else "Always")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in spec.get("containers") or []:
        _default_container(container)
    for container in spec.get("initContainers") or []:
        _default_container(container)


def _default_pod(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{t}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for t in ("not-ready", "unreachable")
        ],
    )
    volumes = spec.setdefault("volumes", [])
    if spec.get("automountServiceAccountToken") is not False and not any(
        v.get("name", "").startswith("kube-api-access-") for v in volumes
    ):
        token_volume = f"kube-api-access-{random_suffix()}"
        volumes.append({"name": token_volume, "projected": _token_projection()})
        for container in spec.get("containers") or []:
            container.setdefault("volumeMounts", []).append(
                {
                    "name": token_volume,
                    "readOnly": True,
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                }
            )
    obj.setdefault("status", {}).setdefault("phase", "Pending")
    obj["status"].setdefault("qosClass", "BestEffort")


def _token_projection() -> dict[str, Any]:
    return {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }


def default_storage_class(store: ObjectStore) -> str | None:
    for sc in store.scan(builtin("storage.k8s.io", "StorageClass").storage_key):
        if sc["metadata"].get("annotations", {}).get(DEFAULT_STORAGE_CLASS_ANNOTATION) == "true":
            return str(sc["metadata"]["name"])
    return None


def _default_pvc(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    if "storageClassName" not in spec and (default := default_storage_class(store)):
        spec["storageClassName"] = default
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if PVC_PROTECTION not in finalizers:
        finalizers.append(PVC_PROTECTION)


def _default_pv(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _allocated(store: ObjectStore, path: Callable[[Obj], list[Any]]) -> set[Any]:
    return {v for svc in store.scan(builtin("", "Service").storage_key) for v in path(svc)}


def _default_service(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    name = obj["metadata"]["name"]
    kind = builtin("", "Service")
    if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
        used = _allocated(store, lambda s: [s.get("spec", {}).get("clusterIP")])
        wanted = spec.get("clusterIP")
        if wanted and wanted in used:
            raise invalid(
                kind,
                name,
                [
                    (
                        "spec.clusterIPs",
                        f'Invalid value: ["{wanted}"]: '
                        f"failed to allocate IP {wanted}: provided IP is already allocated",
                    )
                ],
            )
        if not wanted:
            hosts = SERVICE_CIDR.hosts()
            wanted = next(str(ip) for ip in hosts if str(ip) not in used and ip.packed[-1] > 1)
        spec["clusterIP"] = wanted
        spec["clusterIPs"] = [wanted]
    elif spec.get("clusterIP") == "None":
        spec["clusterIPs"] = ["None"]
    used_ports = _allocated(
        store, lambda s: [p.get("nodePort") for p in s.get("spec", {}).get("ports") or []]
    )
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        if spec["type"] in ("NodePort", "LoadBalancer"):
            if port.get("nodePort") in used_ports:
                raise invalid(
                    kind,
                    name,
                    [
                        (
                            "spec.ports.nodePort",
                            f"Invalid value: "
                            f"{port['nodePort']}: provided port is already allocated",
                        )
                    ],
                )
            if not port.get("nodePort"):
                port["nodePort"] = next(p for p in NODE_PORTS if p not in used_ports)
                used_ports.add(port["nodePort"])
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _default_namespace(obj: Obj, store: ObjectStore) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    labels = obj["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


def _default_secret(obj: Obj, store: ObjectStore) -> None:
    obj.setdefault("type", "Opaque")
    for key, value in (obj.pop("stringData", None) or {}).items():
        obj.setdefault("data", {})[key] = base64.b64encode(value.encode()).decode()


def _default_template(obj: Obj) -> None:
    default_pod_spec(obj.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {}))


def _default_deployment(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    )
    _default_template(obj)


def _default_replicaset(obj: Obj, store: ObjectStore) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _default_template(obj)


def _default_statefulset(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
    )
    for template in spec.get("volumeClaimTemplates") or []:
        template.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    _default_template(obj)


def _default_daemonset(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "updateStrategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
    )
    _default_template(obj)


def _default_job(obj: Obj, store: ObjectStore) -> None:
    spec = obj.setdefault("spec", {})
    for key, value in (
        ("completions", 1),
        ("parallelism", 1),
        ("backoffLimit", 6),
        ("completionMode", "NonIndexed"),
        ("suspend", False),
    ):
        spec.setdefault(key, value)
    uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
    if not spec.get("manualSelector") and "selector" not in spec:
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "job-name": name,
            }
        )
    _default_template(obj)


def _default_storage_class(obj: Obj, store: ObjectStore) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


_DEFAULTERS: dict[str, Callable[[Obj, ObjectStore], None]] = {
    "Pod": _default_pod,
    "PersistentVolumeClaim": _default_pvc,
    "PersistentVolume": _default_pv,
    "Service": _default_service,
    "Namespace": _default_namespace,
    "Secret": _default_secret,
    "Deployment": _default_deployment,
    "ReplicaSet": _default_replicaset,
    "StatefulSet": _default_statefulset,
    "DaemonSet": _default_daemonset,
    "Job": _default_job,
    "StorageClass": _default_storage_class,
}


def apply_defaults(kind: KindInfo, obj: Obj, store: ObjectStore) -> None:
    """Fill what the API server fills on create; runs after uid and name are set."""
    if not kind.custom and (defaulter := _DEFAULTERS.get(kind.kind)):
        defaulter(obj, store)


# --- validation ------------------------------------------------------------------------


def validate(kind: KindInfo, obj: Obj) -> None:
    name = obj["metadata"]["name"]
    causes: list[tuple[str, str]] = []
    if problem := _name_problem(kind, name):
        causes.append(("metadata.name", problem))
    for path in kind.required:
        if _dig(obj, path) in (None, "", [], {}):
            causes.append((path, "Required value"))
    spec = obj.get("spec") or {}
    if kind.group in ("apps", "batch") and "selector" in spec and "template" in spec:
        labels = _dig(spec, "template.metadata.labels") or {}
        if not selector_object_matches(spec["selector"], labels):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {labels}: `selector` does not match template `labels`",
                )
            )
    if kind.kind == "Job" and _dig(spec, "template.spec.restartPolicy") not in (
        "Never",
        "OnFailure",
    ):
        causes.append(
            (
                "spec.template.spec.restartPolicy",
                'Required value: valid values: "OnFailure", "Never"',
            )
        )
    if kind.kind == "CustomResourceDefinition":
        expected = f"{_dig(obj, 'spec.names.plural')}.{_dig(obj, 'spec.group')}"
        if name != expected:
            causes.append(
                (
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
    if causes:
        raise invalid(kind, name, causes)


_MUTABLE_POD_SPEC = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def _pod_spec_view(spec: dict[str, Any]) -> dict[str, Any]:
    """A pod spec minus what may change after creation (images, a few fields)."""
    view = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_SPEC and k != "nodeName"}
    for key in ("containers", "initContainers"):
        if key in view:
            view[key] = [{k: v for k, v in c.items() if k != "image"} for c in view[key]]
    return view


def check_update(kind: KindInfo, old: Obj, new: Obj) -> None:
    """Immutable fields, as the registry strategies enforce them."""
    name = old["metadata"]["name"]
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}

    def immutable(field: str, message: str = "field is immutable") -> None:
        raise invalid(kind, name, [(field, message)])

    match kind.kind:
        case "Pod":
            if _pod_spec_view(old_spec) != _pod_spec_view(new_spec):
                immutable(
                    "spec",
                    "Forbidden: pod updates may not change fields other than "
                    "`spec.containers[*].image`, `spec.initContainers[*].image`, "
                    "`spec.activeDeadlineSeconds`, `spec.tolerations` (only additions "
                    "to existing tolerations), `spec.terminationGracePeriodSeconds`",
                )
        case "PersistentVolumeClaim":

            def view(spec: dict[str, Any]) -> dict[str, Any]:
                return {k: v for k, v in spec.items() if k not in ("resources", "volumeName")}

            if view(old_spec) != view(new_spec) or (
                old_spec.get("volumeName") and new_spec.get("volumeName") != old_spec["volumeName"]
            ):
                immutable(
                    "spec",
                    "Forbidden: spec is immutable after creation except "
                    "resources.requests and volumeAttributesClassName for bound claims",
                )
        case "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job":
            if old_spec.get("selector") != new_spec.get("selector"):
                immutable("spec.selector")
        case "Service":
            if old_spec.get("clusterIP") and new_spec.get("clusterIP") != old_spec["clusterIP"]:
                immutable("spec.clusterIPs[0]", "Invalid value: may not change once set")
        case "StorageClass":
            for field in ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"):
                if old.get(field) != new.get(field):
                    immutable(field, "Forbidden: updates to " + field + " are forbidden.")
        case _:
            pass


def check_namespace_open(kind: KindInfo, name: str, namespace: Obj | None, ns_name: str) -> None:
    if namespace is None:
        raise ApiError(
            404,
            "NotFound",
            f'namespaces "{ns_name}" not found',
            {"name": ns_name, "kind": "namespaces"},
        )
    if namespace["metadata"].get("deletionTimestamp"):
        raise forbidden(
            kind,
            name,
            f"unable to create new content in namespace {ns_name} because it is being terminated",
        )
