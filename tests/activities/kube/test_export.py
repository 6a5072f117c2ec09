"""Manifests as a backup saves them: server fields stripped, one file per object."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client

from activities.kube import rest
from activities.kube.export import export_resources, strip_server_fields
from activities.kube.restore_tree import read_exported_objects
from lifeboat.models import ResourceSelection

SERVED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "0d1c7a52-7c39-4a0e-9d6b-1f7b3c2d4e5f",
        "resourceVersion": "4711",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "generation": 3,
        "managedFields": [{"manager": "kubectl", "operation": "Update"}],
        "selfLink": "/apis/apps/v1/namespaces/shop/deployments/web",
        "deletionTimestamp": "2026-01-02T00:00:00Z",
        "deletionGracePeriodSeconds": 30,
        "labels": {"app": "web"},
        "annotations": {"note": "kept"},
        "finalizers": ["example.com/cleanup"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"}],
    },
    "spec": {"replicas": 2, "template": {"spec": {"nodeName": "node-1"}}},
    "status": {"readyReplicas": 2},
}


def test_strip_server_fields_keeps_what_a_restore_needs() -> None:
    stripped = strip_server_fields(SERVED)

    assert stripped == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "annotations": {"note": "kept"},
            "finalizers": ["example.com/cleanup"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"}],
        },
        "spec": {"replicas": 2, "template": {"spec": {"nodeName": "node-1"}}},
    }
    assert SERVED["metadata"]["uid"] and "status" in SERVED  # the input is left alone


def test_strip_server_fields_of_an_object_without_metadata_or_status() -> None:
    assert strip_server_fields({"kind": "Thing"}) == {"kind": "Thing"}


def test_export_writes_one_stripped_manifest_per_object_and_an_index(
    kube_api: client.ApiClient,
    new_namespace: Callable[..., str],
    workload: Callable[..., Any],
    tmp_path: Path,
) -> None:
    ns = new_namespace("lbt-export")
    rest.request(
        kube_api,
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        body={"metadata": {"name": "settings"}, "data": {"mode": "fast"}},
    )
    app = workload(ns, "data", "csi-snap")
    selection = ResourceSelection(
        include_namespaces=[ns],
        include_resource_types=[
            "configmaps",
            "persistentvolumeclaims",
            "persistentvolumes",
            "namespaces",
            "storageclasses",
        ],
    )

    result = export_resources(kube_api, selection, tmp_path)
    again = export_resources(kube_api, selection, tmp_path)  # a retry rewrites the same tree

    assert again == result
    assert result.counts == {
        "configmaps": 2,  # with kube-root-ca.crt, which every namespace gets
        "namespaces": 1,
        "persistentvolumeclaims": 1,
        "persistentvolumes": 1,
        "storageclasses.storage.k8s.io": 1,
    }
    assert result.total == 6
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json"))
    assert files == sorted(
        [
            "index.json",
            f"resources/{ns}/configmaps/kube-root-ca.crt.json",
            f"resources/{ns}/configmaps/settings.json",
            f"resources/{ns}/persistentvolumeclaims/data.json",
            f"resources/_cluster/namespaces/{ns}.json",
            f"resources/_cluster/persistentvolumes/{app.pv}.json",
            "resources/_cluster/storageclasses.storage.k8s.io/csi-snap.json",
        ]
    )
    settings = json.loads((tmp_path / f"resources/{ns}/configmaps/settings.json").read_text())
    assert settings == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": ns},
        "data": {"mode": "fast"},
    }
    claim = json.loads((tmp_path / f"resources/{ns}/persistentvolumeclaims/data.json").read_text())
    assert "status" not in claim and "uid" not in claim["metadata"]
    assert claim["spec"]["volumeName"] == app.pv
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["total"] == 6 and index["counts"] == result.counts
    assert index["namespaces"] == [ns]
    assert {
        "group": "storage.k8s.io",
        "version": "v1",
        "kind": "StorageClass",
        "plural": "storageclasses",
        "namespaced": False,
        "count": 1,
    } in index["resource_types"]
    # the restore side reads the same tree back
    read_back = {(o.resource, o.namespace, o.name) for o in read_exported_objects(tmp_path)}
    assert ("configmaps", ns, "settings") in read_back and len(read_back) == 6
