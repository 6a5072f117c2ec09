"""Discovery through `kubernetes.dynamic`, CRDs and their custom resources, and watch."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import NotFoundError
from kubernetes.dynamic.resource import ResourceList

EXPECTED = {
    # (apiVersion, kind): (namespaced, a short name or None, subresources)
    ("v1", "Pod"): (True, "po", {"status"}),
    ("v1", "PersistentVolume"): (False, "pv", {"status"}),
    ("v1", "Namespace"): (False, "ns", {"status", "finalize"}),
    ("v1", "ConfigMap"): (True, "cm", set()),
    ("apps/v1", "Deployment"): (True, "deploy", {"status", "scale"}),
    ("batch/v1", "Job"): (True, None, {"status"}),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): (False, None, set()),
    ("storage.k8s.io/v1", "StorageClass"): (False, "sc", set()),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): (False, "crd", {"status"}),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshot"): (True, "vs", {"status"}),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent"): (False, "vsc", {"status"}),
    ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"): (False, "vsclass", set()),
}


def test_discovery_describes_each_kind(dyn: Any) -> None:
    for (api_version, kind), (namespaced, short, subresources) in EXPECTED.items():
        resource = dyn.resources.get(api_version=api_version, kind=kind)
        assert resource.namespaced is namespaced, kind
        assert "list" in resource.verbs and "create" in resource.verbs
        if short:
            assert short in resource.short_names, kind
        assert set(resource.subresources) == subresources, kind


def test_every_served_resource_lists_generically(dyn: Any) -> None:
    """What a backup does: walk discovery and list every resource type."""
    listed = set()
    for group in dyn.resources:
        for resource in group:
            if isinstance(resource, ResourceList) or "list" not in (resource.verbs or []):
                continue
            result = resource.get()
            assert result.kind == f"{resource.kind}List"
            assert result.metadata.resourceVersion
            listed.add((resource.group_version, resource.kind))
    assert set(EXPECTED) <= listed
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace").get()
    assert "default" in {n.metadata.name for n in namespaces.items}


def test_crd_serves_custom_resources(
    api_client: Any, custom: Any, dyn: Any, namespace: str
) -> None:
    ext: Any = client.ApiextensionsV1Api(api_client)
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    ext.create_custom_resource_definition(
        {
            "metadata": {"name": f"gadgets.{group}"},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {
                    "plural": "gadgets",
                    "singular": "gadget",
                    "kind": "Gadget",
                    "shortNames": ["gd"],
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    },
                    {
                        "name": "v1beta1",
                        "served": True,
                        "storage": False,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    },
                ],
            },
        }
    )
    crd = ext.read_custom_resource_definition(f"gadgets.{group}")
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"

    body = {
        "apiVersion": f"{group}/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1"},
        "spec": {"size": 3},
    }
    created = custom.create_namespaced_custom_object(group, "v1", namespace, "gadgets", body)
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    custom.patch_namespaced_custom_object(
        group, "v1", namespace, "gadgets", "g1", {"spec": {"size": 4}}
    )
    got = custom.get_namespaced_custom_object(group, "v1", namespace, "gadgets", "g1")
    assert got["spec"] == {"size": 4} and got["metadata"]["generation"] == 2

    gadgets = dyn.resources.get(api_version=f"{group}/v1", kind="Gadget")
    assert gadgets.namespaced and "gd" in gadgets.short_names
    assert set(gadgets.subresources) == {"status"}
    assert [g.metadata.name for g in gadgets.get(namespace=namespace).items] == ["g1"]
    beta = dyn.resources.get(api_version=f"{group}/v1beta1", kind="Gadget")
    assert beta.get(name="g1", namespace=namespace).apiVersion == f"{group}/v1beta1"
    assert {r.preferred for r in (gadgets, beta)} == {True, False} and gadgets.preferred

    ext.delete_custom_resource_definition(f"gadgets.{group}")
    with pytest.raises(ApiException) as gone:
        custom.get_namespaced_custom_object(group, "v1", namespace, "gadgets", "g1")
    assert gone.value.status == 404
    with pytest.raises(NotFoundError):
        gadgets.get(name="g1", namespace=namespace)


def test_watch_streams_changes(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}})
    events = []
    watcher: Any = watch.Watch  # untyped in the client
    stream = watcher()
    for event in stream.stream(core.list_namespaced_config_map, namespace, timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name))
        if ("ADDED", "before") in events and len(events) == 2:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "after"}})
        if ("ADDED", "after") in events:
            stream.stop()
    assert ("ADDED", "before") in events and ("ADDED", "after") in events


def test_dynamic_client_writes_generically(dyn: Any, namespace: str) -> None:
    """Create, patch, server-side apply and delete through discovery alone, as a restore
    that knows only apiVersion and kind does."""
    configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    created = configmaps.create(body=body, namespace=namespace)
    assert created.metadata.uid
    configmaps.patch(
        body={"data": {"b": "2"}},
        name="c",
        namespace=namespace,
        content_type="application/merge-patch+json",
    )
    assert configmaps.get(name="c", namespace=namespace).data.to_dict() == {"a": "1", "b": "2"}
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied"},
        "data": {"x": "y"},
    }
    configmaps.server_side_apply(body=applied, namespace=namespace, field_manager="lifeboat")
    assert configmaps.get(name="applied", namespace=namespace).data.x == "y"
    configmaps.delete(name="c", namespace=namespace)
    with pytest.raises(NotFoundError):
        configmaps.get(name="c", namespace=namespace)
