"""What a selection covers on the emulated cluster: namespace globs, label selector,
resource types, the three cluster-scoped modes, and the volume inventory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client

from activities.kube import rest
from activities.kube.inventory import select_objects, take_inventory
from lifeboat.models import ClusterScoped, ResourceSelection


@dataclass(frozen=True)
class Scene:
    token: str
    crd: str
    cluster_role: str
    a: str
    b: str
    c: str
    pvs: dict[str, str]
    nodes: dict[str, str]


def names(selected: Any, type_name: str) -> set[str]:
    return {
        "/".join(filter(None, (o["metadata"].get("namespace"), o["metadata"]["name"])))
        for o in selected.objects.get(type_name, [])
    }


@pytest.fixture
def scene(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    eventually: Callable[..., Any],
) -> Iterator[Scene]:
    """Namespaces ``lbt<token>-a|b|c``; objects labelled tier=db<token> or tier=web<token>;
    a CRD and a ClusterRole of their own."""
    token = uuid.uuid4().hex[:6]
    a, b, c = (new_namespace(f"lbt{token}-{x}", exact=True) for x in "abc")
    db, web = {"tier": f"db{token}"}, {"tier": f"web{token}"}
    group = f"t{token}.lifeboat.test"
    crd = f"gadgets.{group}"
    cluster_role = f"lbt{token}-viewer"
    post = rest.request
    post(
        kube_api,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        body={
            "metadata": {"name": crd},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
    )
    post(
        kube_api,
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
        body={"metadata": {"name": cluster_role, "labels": db}, "rules": []},
    )
    eventually(lambda: rest.find(kube_api, f"/apis/{group}/v1"))
    for ns, name, labels in ((a, "cfg", db), (a, "other", web), (c, "cfg", db)):
        post(
            kube_api,
            "POST",
            f"/api/v1/namespaces/{ns}/configmaps",
            body={"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}},
        )
    post(
        kube_api,
        "POST",
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{a}/rolebindings",
        body={
            "metadata": {"name": "view", "labels": db},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": a}],
        },
    )
    post(
        kube_api,
        "POST",
        f"/apis/{group}/v1/namespaces/{a}/gadgets",
        body={
            "apiVersion": f"{group}/v1",
            "kind": "Gadget",
            "metadata": {"name": "g1", "labels": db},
            "spec": {"size": 1},
        },
    )
    volumes = {
        "db": workload(a, "db", "csi-snap", labels=db),
        "db-local": workload(b, "db-local", "local", labels=db),
        "cache": workload(b, "cache", "csi-nosnap", labels=web),
    }
    yield Scene(
        token=token,
        crd=crd,
        cluster_role=cluster_role,
        a=a,
        b=b,
        c=c,
        pvs={k: v.pv for k, v in volumes.items()},
        nodes={k: v.node for k, v in volumes.items()},
    )
    rest.delete(kube_api, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}")
    rest.delete(kube_api, f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{cluster_role}")


def selection(scene: Scene, **overrides: Any) -> ResourceSelection:
    return ResourceSelection(
        include_namespaces=[f"lbt{scene.token}-*"],
        exclude_namespaces=[scene.c],
        label_selector=f"tier=db{scene.token}",
        **overrides,
    )


def test_auto_selection_brings_what_the_namespaced_objects_refer_to(
    kube_api: client.ApiClient, scene: Scene
) -> None:
    selected = select_objects(kube_api, selection(scene))

    assert selected.namespaces == [scene.a, scene.b]
    assert names(selected, "configmaps") == {f"{scene.a}/cfg"}
    assert names(selected, "persistentvolumeclaims") == {f"{scene.a}/db", f"{scene.b}/db-local"}
    assert names(selected, "rolebindings.rbac.authorization.k8s.io") == {f"{scene.a}/view"}
    assert names(selected, scene.crd) == {f"{scene.a}/g1"}
    assert "pods" not in selected.counts()  # the workload pods carry no tier label
    assert names(selected, "namespaces") == {scene.a, scene.b}
    assert names(selected, "persistentvolumes") == {scene.pvs["db"], scene.pvs["db-local"]}
    assert names(selected, "storageclasses.storage.k8s.io") == {"csi-snap", "local"}
    assert names(selected, "clusterroles.rbac.authorization.k8s.io") == {scene.cluster_role}
    assert names(selected, "customresourcedefinitions.apiextensions.k8s.io") == {scene.crd}


def test_cluster_scoped_off_and_on(kube_api: client.ApiClient, scene: Scene) -> None:
    off = select_objects(kube_api, selection(scene, cluster_scoped=ClusterScoped.OFF))
    on = select_objects(kube_api, selection(scene, cluster_scoped=ClusterScoped.ON))

    assert {n for n, t in off.by_name.items() if not t.namespaced and off.objects[n]} == set()
    assert names(off, "configmaps") == {f"{scene.a}/cfg"}
    # `on`: every cluster-scoped object that matches the selector, referred to or not
    assert names(on, "clusterroles.rbac.authorization.k8s.io") == {scene.cluster_role}
    assert names(on, "namespaces") == {scene.a, scene.b}
    assert "persistentvolumes" not in on.counts()  # unlabelled, so not selected
    assert "storageclasses.storage.k8s.io" not in on.counts()


def test_excluded_types_stay_out_even_when_referred_to(
    kube_api: client.ApiClient, scene: Scene
) -> None:
    selected = select_objects(
        kube_api,
        selection(scene, exclude_resource_types=["configmaps", "persistentvolumes"]),
    )

    assert "configmaps" not in selected.counts()
    assert "persistentvolumes" not in selected.counts()
    assert names(selected, "storageclasses.storage.k8s.io") == {"csi-snap", "local"}


def test_volume_inventory(kube_api: client.ApiClient, scene: Scene) -> None:
    inventory = take_inventory(kube_api, selection(scene))

    assert inventory.namespaces == [scene.a, scene.b]
    assert inventory.object_counts["persistentvolumeclaims"] == 2
    db, local = inventory.volumes
    assert (db.namespace, db.pvc, db.pv) == (scene.a, "db", scene.pvs["db"])
    assert (db.storage_class, db.driver, db.csi) == ("csi-snap", "hostpath.csi.k8s.io", True)
    assert db.snapshot_class == "csi-snap-class" and db.supports_snapshots
    assert db.plugin_dir == "kubernetes.io~csi"
    assert db.access_modes == ["ReadWriteOnce"] and db.capacity == "1Gi"
    assert db.local_node is None
    assert [(p.name, p.node, p.running) for p in db.pods] == [("app-db", scene.nodes["db"], True)]
    assert (local.pvc, local.storage_class, local.csi) == ("db-local", "local", False)
    assert local.driver == "rancher.io/local-path"
    assert local.snapshot_class is None and "not a CSI volume" in local.snapshot_note
    assert local.plugin_dir == "kubernetes.io~local-volume"
    assert local.local_node == scene.nodes["db-local"]


def test_volume_inventory_knows_a_driver_without_snapshot_class(
    kube_api: client.ApiClient, scene: Scene
) -> None:
    inventory = take_inventory(
        kube_api,
        ResourceSelection(include_namespaces=[scene.b], label_selector=f"tier=web{scene.token}"),
    )

    [cache] = inventory.volumes
    assert cache.pvc == "cache" and cache.driver == "nosnap.csi.k8s.io"
    assert cache.snapshot_class is None
    assert cache.snapshot_note == "driver nosnap.csi.k8s.io has no VolumeSnapshotClass"


def test_the_whole_cluster_by_default(kube_api: client.ApiClient, scene: Scene) -> None:
    selected = select_objects(kube_api, ResourceSelection())

    assert len(selected.namespaces) > 5  # read with one list per type, not per namespace
    assert {scene.a, scene.b, scene.c, "default", "kube-system"} <= set(selected.namespaces)
    assert {f"{scene.a}/cfg", f"{scene.a}/other", f"{scene.c}/cfg"} <= names(selected, "configmaps")
    assert {"nodes", "events"}.isdisjoint(selected.counts())
