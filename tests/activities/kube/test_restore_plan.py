"""The restore plan from manifests alone: selection, never-restored rules, rewrites, order."""

from __future__ import annotations

from typing import Any

from activities.kube.restore_plan import RestorePlan, plan_restore
from activities.kube.restore_tree import ExportedObject
from lifeboat.contracts.restore import RestoreStage
from lifeboat.models import ClusterScoped, ResourceSelection, RestoreRequest

RP = "rp-1"


def _obj(
    api_version: str,
    kind: str,
    plural: str,
    name: str,
    namespace: str | None = "shop",
    **fields: Any,
) -> ExportedObject:
    metadata = {"name": name, **fields.pop("metadata", {})}
    if namespace is not None:
        metadata["namespace"] = namespace
    group, _, version = api_version.rpartition("/")
    return ExportedObject(
        plural=plural,
        group=group,
        version=version,
        kind=kind,
        namespace=namespace,
        name=name,
        manifest={"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields},
    )


def _owned(kind: str, name: str, api_version: str = "apps/v1") -> dict[str, Any]:
    ref = {"apiVersion": api_version, "kind": kind, "name": name, "uid": "u", "controller": True}
    return {"ownerReferences": [ref]}


CLAIM = _obj(
    "v1",
    "PersistentVolumeClaim",
    "persistentvolumeclaims",
    "data",
    metadata={
        "annotations": {
            "pv.kubernetes.io/bind-completed": "yes",
            "volume.kubernetes.io/selected-node": "node-1",
            "team": "shop",
        }
    },
    spec={"storageClassName": "csi-snap", "volumeName": "pvc-123", "accessModes": ["RWO"]},
)
DYNAMIC_PV = _obj(
    "v1",
    "PersistentVolume",
    "persistentvolumes",
    "pvc-123",
    None,
    metadata={"annotations": {"pv.kubernetes.io/provisioned-by": "hostpath.csi.k8s.io"}},
    spec={"claimRef": {"namespace": "shop", "name": "data", "uid": "old"}},
)
DEPLOYMENT = _obj("apps/v1", "Deployment", "deployments", "web", spec={"replicas": 1})
REPLICA_SET = _obj(
    "apps/v1", "ReplicaSet", "replicasets", "web-1", metadata=_owned("Deployment", "web")
)
POD = _obj(
    "v1",
    "Pod",
    "pods",
    "web-1-x",
    metadata=_owned("ReplicaSet", "web-1"),
    spec={"nodeName": "node-1", "containers": [{"name": "c"}]},
)
BARE_POD = _obj(
    "v1",
    "Pod",
    "pods",
    "debug",
    spec={
        "nodeName": "node-1",
        "containers": [
            {
                "name": "c",
                "volumeMounts": [
                    {"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets"},
                    {"name": "cache", "mountPath": "/cache"},
                ],
            }
        ],
        "volumes": [
            {"name": "kube-api-access-abcde", "projected": {"sources": []}},
            {"name": "cache", "emptyDir": {}},
        ],
    },
)
SERVICE = _obj(
    "v1",
    "Service",
    "services",
    "web",
    spec={
        "clusterIP": "10.96.0.9",
        "clusterIPs": ["10.96.0.9"],
        "ports": [{"port": 80, "nodePort": 30001}],
    },
)
HEADLESS = _obj(
    "v1", "Service", "services", "db", spec={"clusterIP": "None", "clusterIPs": ["None"]}
)
JOB = _obj(
    "batch/v1",
    "Job",
    "jobs",
    "migrate",
    metadata={"labels": {"controller-uid": "old", "app": "m"}},
    spec={
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "old"}},
        "template": {
            "metadata": {
                "labels": {
                    "batch.kubernetes.io/controller-uid": "old",
                    "controller-uid": "old",
                    "job-name": "migrate",
                }
            }
        },
    },
)
BINDING = _obj(
    "rbac.authorization.k8s.io/v1",
    "RoleBinding",
    "rolebindings",
    "reader",
    roleRef={"kind": "ClusterRole", "name": "view"},
    subjects=[
        {"kind": "ServiceAccount", "name": "app", "namespace": "shop"},
        {"kind": "Group", "name": "devs"},
    ],
)
CLUSTER_ROLE = _obj("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", "view", None)
OTHER_CLUSTER_ROLE = _obj(
    "rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", "admin", None
)
NAMESPACE = _obj(
    "v1",
    "Namespace",
    "namespaces",
    "shop",
    None,
    metadata={"labels": {"kubernetes.io/metadata.name": "shop"}},
)
OTHER_NAMESPACE = _obj("v1", "Namespace", "namespaces", "blog", None)
ROOT_CA = _obj("v1", "ConfigMap", "configmaps", "kube-root-ca.crt")
CONFIG = _obj("v1", "ConfigMap", "configmaps", "settings", metadata={"labels": {"tier": "web"}})
BLOG_CONFIG = _obj("v1", "ConfigMap", "configmaps", "settings", "blog")
CRD = _obj(
    "apiextensions.k8s.io/v1",
    "CustomResourceDefinition",
    "customresourcedefinitions",
    "widgets.demo.dev",
    None,
)
WIDGET = _obj("demo.dev/v1", "Widget", "widgets", "w1")
STS = _obj(
    "apps/v1",
    "StatefulSet",
    "statefulsets",
    "db",
    spec={
        "volumeClaimTemplates": [
            {"metadata": {"name": "data"}, "spec": {"storageClassName": "csi-snap"}}
        ]
    },
)
STORAGE_CLASS = _obj("storage.k8s.io/v1", "StorageClass", "storageclasses", "csi-snap", None)
EVENT = _obj("v1", "Event", "events", "e1")

ALL = [
    WIDGET, CRD, POD, BARE_POD, REPLICA_SET, DEPLOYMENT, SERVICE, HEADLESS, JOB, BINDING,
    CLUSTER_ROLE, OTHER_CLUSTER_ROLE, NAMESPACE, OTHER_NAMESPACE, ROOT_CA, CONFIG, BLOG_CONFIG,
    CLAIM, DYNAMIC_PV, STS, STORAGE_CLASS, EVENT,
]  # fmt: skip


def _plan(**request: Any) -> RestorePlan:
    return plan_restore(ALL, RestoreRequest(recovery_point=RP, **request), "run-1")


def _manifest(plan: RestorePlan, resource: str, name: str) -> dict[str, Any]:
    [found] = [p.manifest for p in plan.objects if p.source.resource == resource and p.name == name]
    return found


def test_order_is_definitions_namespaces_storage_configuration_identity_workloads_others() -> None:
    plan = _plan(selection=ResourceSelection(include_namespaces=["shop"]))

    order = [p.source.resource for p in plan.objects]

    assert order == [
        "customresourcedefinitions.apiextensions.k8s.io",
        "namespaces",
        "storageclasses.storage.k8s.io",
        "persistentvolumeclaims",
        "configmaps",
        "clusterroles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
        "services",
        "services",
        "deployments.apps",
        "statefulsets.apps",
        "jobs.batch",
        "pods",
        "widgets.demo.dev",
    ]
    assert [p.stage for p in plan.objects][:2] == [
        RestoreStage.DEFINITIONS,
        RestoreStage.NAMESPACES,
    ]


def test_never_restored_objects_are_reported_with_reasons() -> None:
    plan = _plan(selection=ResourceSelection(include_namespaces=["shop"]))

    reasons = {f"{n.source.kind}/{n.source.name}": n.reason for n in plan.not_restored}

    assert set(reasons) == {
        "Pod/web-1-x",
        "ReplicaSet/web-1",
        "ConfigMap/kube-root-ca.crt",
        "PersistentVolume/pvc-123",
        "Event/e1",
    }
    assert "ReplicaSet web-1" in reasons["Pod/web-1-x"]
    assert "Deployment web" in reasons["ReplicaSet/web-1"]
    assert "dynamically provisioned" in reasons["PersistentVolume/pvc-123"]


def test_auto_brings_referred_cluster_objects_only() -> None:
    plan = _plan(selection=ResourceSelection(include_namespaces=["shop"]))

    cluster_scoped = {(p.source.kind, p.name) for p in plan.objects if p.namespace is None}

    assert cluster_scoped == {
        ("Namespace", "shop"),
        ("ClusterRole", "view"),
        ("CustomResourceDefinition", "widgets.demo.dev"),
        ("StorageClass", "csi-snap"),
    }


def test_cluster_scoped_on_and_off() -> None:
    on = _plan(
        selection=ResourceSelection(include_namespaces=["shop"], cluster_scoped=ClusterScoped.ON)
    )
    off = _plan(
        selection=ResourceSelection(include_namespaces=["shop"], cluster_scoped=ClusterScoped.OFF)
    )

    assert ("ClusterRole", "admin") in {(p.source.kind, p.name) for p in on.objects}
    assert ("Namespace", "blog") not in {(p.source.kind, p.name) for p in on.objects}
    assert all(p.namespace is not None for p in off.objects)


def test_label_selector_and_resource_types_narrow_namespaced_objects() -> None:
    plan = _plan(
        selection=ResourceSelection(
            include_namespaces=["*"],
            include_resource_types=["configmaps"],
            label_selector="tier=web",
        )
    )

    assert [(p.source.resource, p.namespace, p.name) for p in plan.objects] == [
        ("namespaces", None, "shop"),
        ("configmaps", "shop", "settings"),
    ]


def test_namespace_mapping_rewrites_namespaces_and_subjects() -> None:
    plan = _plan(namespace_mapping={"shop": "shop-copy"})

    assert _manifest(plan, "namespaces", "shop-copy")["metadata"]["labels"] == {
        "lifeboat.io/restored-from": RP,
        "lifeboat.io/run": "run-1",
    }
    binding = _manifest(plan, "rolebindings.rbac.authorization.k8s.io", "reader")
    assert binding["metadata"]["namespace"] == "shop-copy"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "app", "namespace": "shop-copy"},
        {"kind": "Group", "name": "devs"},
    ]
    configs = {p.namespace for p in plan.objects if p.source.resource == "configmaps"}
    assert configs == {"shop-copy", "blog"}


def test_claims_are_reprovisioned_with_the_mapped_class() -> None:
    plan = _plan(storage_class_mapping={"csi-snap": "local"})

    claim = _manifest(plan, "persistentvolumeclaims", "data")
    template = _manifest(plan, "statefulsets.apps", "db")["spec"]["volumeClaimTemplates"][0]

    assert claim["spec"] == {"storageClassName": "local", "accessModes": ["RWO"]}
    assert claim["metadata"]["annotations"] == {"team": "shop"}
    assert template["spec"]["storageClassName"] == "local"
    assert "storageclasses.storage.k8s.io" not in {p.source.resource for p in plan.objects}
    assert set(plan.storage_classes) == {"local"}
    assert "storage_class_mapping" in plan.storage_classes["local"]


def test_cluster_specific_fields_are_dropped() -> None:
    plan = _plan()

    service = _manifest(plan, "services", "web")["spec"]
    headless = _manifest(plan, "services", "db")["spec"]
    pod = _manifest(plan, "pods", "debug")["spec"]
    job = _manifest(plan, "jobs.batch", "migrate")

    assert service == {"ports": [{"port": 80}]}
    assert headless["clusterIP"] == "None"
    assert "nodeName" not in pod
    assert [v["name"] for v in pod["volumes"]] == ["cache"]
    assert [m["name"] for m in pod["containers"][0]["volumeMounts"]] == ["cache"]
    assert "selector" not in job["spec"]
    assert job["spec"]["template"]["metadata"]["labels"] == {"job-name": "migrate"}
    assert "controller-uid" not in job["metadata"]["labels"]


def test_static_volume_keeps_its_claim_binding_in_the_mapped_namespace() -> None:
    static_pv = _obj(
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        "nfs-share",
        None,
        spec={
            "claimRef": {"namespace": "shop", "name": "data", "uid": "old"},
            "nfs": {},
            "storageClassName": "manual",
        },
    )
    claim = _obj(
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "data",
        spec={"volumeName": "nfs-share", "storageClassName": "manual"},
    )
    plan = plan_restore(
        [static_pv, claim],
        RestoreRequest(recovery_point=RP, namespace_mapping={"shop": "copy"}),
        "run-1",
    )

    assert _manifest(plan, "persistentvolumes", "nfs-share")["spec"]["claimRef"] == {
        "namespace": "copy",
        "name": "data",
    }
    assert _manifest(plan, "persistentvolumeclaims", "data")["spec"]["volumeName"] == "nfs-share"
    # Static binding matches the class by name: it need not exist in the target.
    assert plan.storage_classes == {}
