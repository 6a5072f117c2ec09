"""What a fresh cluster has before anyone applies anything.

Created at every start when missing (as an addon manager would): system namespaces, the
nodes, the snapshot CRDs of external-snapshotter, storage classes, CSIDrivers and the
VolumeSnapshotClass.
"""

from __future__ import annotations

from collections.abc import Sequence

from .apiserver import ApiServer
from .drivers import DEFAULT_STORAGE_CLASS, HOSTPATH_CSI, PROVISIONERS, SNAPSHOT_CLASS
from .kinds import KindInfo, builtin
from .store import Obj

KUBERNETES_VERSION = "v1.30.0"
SNAPSHOT_GROUP = "snapshot.storage.k8s.io"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ZONES = ("zone-a", "zone-b", "zone-c")


def node_ip(index: int) -> str:
    return f"172.18.0.{index + 2}"


def _node(name: str, index: int) -> Obj:
    nodeinfo = {
        "architecture": "amd64",
        "bootID": f"boot-{name}",
        "containerRuntimeVersion": "containerd://1.7.15",
        "kernelVersion": "6.1.0",
        "kubeProxyVersion": KUBERNETES_VERSION,
        "kubeletVersion": KUBERNETES_VERSION,
        "machineID": f"machine-{name}",
        "operatingSystem": "linux",
        "osImage": "Debian GNU/Linux 12 (bookworm)",
        "systemUUID": f"uuid-{name}",
    }
    resources = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    return {
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/zone": ZONES[index % len(ZONES)],
                "topology.kubernetes.io/region": "dev",
            },
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": node_ip(index)},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": "2024-01-01T00:00:00Z",
                    "lastTransitionTime": "2024-01-01T00:00:00Z",
                },
            ],
            "nodeInfo": nodeinfo,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }


def _storage_classes() -> list[Obj]:
    classes = []
    for provisioner in PROVISIONERS.values():
        annotations = {}
        if provisioner.storage_class == DEFAULT_STORAGE_CLASS:
            annotations["storageclass.kubernetes.io/is-default-class"] = "true"
        sc: Obj = {
            "metadata": {"name": provisioner.storage_class, "annotations": annotations},
            "provisioner": provisioner.name,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": provisioner.binding_mode,
            "allowVolumeExpansion": provisioner.source == "csi",
        }
        if provisioner.parameters:
            sc["parameters"] = dict(provisioner.parameters)
        classes.append(sc)
    return classes


def _csi_drivers() -> list[Obj]:
    return [
        {
            "metadata": {"name": p.name},
            "spec": {
                "attachRequired": False,
                "podInfoOnMount": True,
                "volumeLifecycleModes": ["Persistent"],
                "fsGroupPolicy": "File",
                "storageCapacity": False,
                "requiresRepublish": False,
                "seLinuxMount": False,
            },
        }
        for p in PROVISIONERS.values()
        if p.source == "csi"
    ]


def _snapshot_crd(kind: str, plural: str, short: list[str], namespaced: bool) -> Obj:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "metadata": {
            "name": f"{plural}.{SNAPSHOT_GROUP}",
            "annotations": {
                "api-approved.kubernetes.io": "https://github.com/kubernetes-csi/"
                "external-snapshotter/pull/814"
            },
        },
        "spec": {
            "group": SNAPSHOT_GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": schema,
                    "subresources": {"status": {}} if kind != "VolumeSnapshotClass" else {},
                },
            ],
        },
    }


def _snapshot_class() -> Obj:
    return {
        "apiVersion": f"{SNAPSHOT_GROUP}/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {
            "name": SNAPSHOT_CLASS,
            "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"},
        },
        "driver": HOSTPATH_CSI.name,
        "deletionPolicy": "Delete",
    }


def _ensure(api: ApiServer, kind: KindInfo, obj: Obj, namespace: str = "") -> None:
    if api.find(kind, namespace, obj["metadata"]["name"]) is None:
        created = api.create(kind, namespace, obj)
        if "status" in obj and kind.has_status:
            api.write_status(kind, {**created, "status": obj["status"]})


def bootstrap(api: ApiServer, nodes: Sequence[str]) -> None:
    for ns in SYSTEM_NAMESPACES:
        _ensure(api, builtin("", "Namespace"), {"metadata": {"name": ns}})
    for index, node in enumerate(nodes):
        _ensure(api, builtin("", "Node"), _node(node, index))
    crds = builtin("apiextensions.k8s.io", "CustomResourceDefinition")
    for args in (
        ("VolumeSnapshot", "volumesnapshots", ["vs"], True),
        ("VolumeSnapshotContent", "volumesnapshotcontents", ["vsc", "vscs"], False),
        ("VolumeSnapshotClass", "volumesnapshotclasses", ["vsclass", "vsclasses"], False),
    ):
        _ensure(api, crds, _snapshot_crd(*args))
    for sc in _storage_classes():
        _ensure(api, builtin("storage.k8s.io", "StorageClass"), sc)
    for driver in _csi_drivers():
        _ensure(api, builtin("storage.k8s.io", "CSIDriver"), driver)
    snapshot_classes = api.registry().by_path(SNAPSHOT_GROUP, "v1", "volumesnapshotclasses")
    if snapshot_classes is not None:
        _ensure(api, snapshot_classes, _snapshot_class())


def snapshot_kind(api: ApiServer, plural: str) -> KindInfo | None:
    """A snapshot.storage.k8s.io kind, if its CRD is (still) installed."""
    return api.registry().by_path(SNAPSHOT_GROUP, "v1", plural)
