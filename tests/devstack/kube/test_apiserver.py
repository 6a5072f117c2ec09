"""The official client's CRUD, errors, selectors and patches work against the emulator
as against a real API server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def _status(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body or "{}")
    return body


def test_configmap_round_trip(core: Any, namespace: str) -> None:
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"mode": "a"}}
    )
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.namespace == namespace
    read = core.read_namespaced_config_map("settings", namespace)
    assert read.data == {"mode": "a"} and read.metadata.uid == meta.uid

    read.data["mode"] = "b"
    replaced = core.replace_namespaced_config_map("settings", namespace, read)
    assert replaced.data == {"mode": "b"}
    assert int(replaced.metadata.resource_version) > int(meta.resource_version)

    patched = core.patch_namespaced_config_map("settings", namespace, {"data": {"extra": "1"}})
    assert patched.data == {"mode": "b", "extra": "1"}

    dry = core.create_namespaced_config_map(namespace, {"metadata": {"name": "dry"}}, dry_run="All")
    assert dry.metadata.name == "dry"
    assert "dry" not in {c.metadata.name for c in core.list_namespaced_config_map(namespace).items}

    core.delete_namespaced_config_map("settings", namespace)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("settings", namespace)
    assert gone.value.status == 404


def test_errors_are_status_objects(core: Any, namespace: str) -> None:
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("nope", namespace)
    status = _status(missing)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "NotFound", 404)
    assert status["message"] == 'secrets "nope" not found'

    core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "s"}})
    assert _status(exists)["reason"] == "AlreadyExists" and exists.value.status == 409
    assert core.read_namespaced_secret("s", namespace).data == {"k": "dg=="}

    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_pod(
            namespace, {"metadata": {"name": "p"}, "spec": {"containers": []}}
        )
    assert invalid.value.status == 422 and _status(invalid)["reason"] == "Invalid"
    assert "spec.containers" in _status(invalid)["message"]
    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Bad_Name"}})
    assert bad_name.value.status == 422 and "RFC 1123" in _status(bad_name)["message"]

    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_config_map("does-not-exist", {"metadata": {"name": "x"}})
    assert no_namespace.value.status == 404


def test_stale_update_conflicts(core: Any, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"n": "0"}})
    first = core.read_namespaced_config_map("c", namespace)
    second = core.read_namespaced_config_map("c", namespace)
    first.data["n"] = "1"
    core.replace_namespaced_config_map("c", namespace, first)
    second.data["n"] = "2"
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_config_map("c", namespace, second)
    assert stale.value.status == 409 and _status(stale)["reason"] == "Conflict"
    assert core.read_namespaced_config_map("c", namespace).data == {"n": "1"}


def test_create_refuses_a_resource_version(core: Any, namespace: str) -> None:
    body = {"metadata": {"name": "c", "resourceVersion": "12"}}
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map(namespace, body)
    assert "resourceVersion should not be set" in _status(refused)["message"]


def test_generation_counts_spec_changes(apps: Any, namespace: str) -> None:
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
                },
            },
        },
    )
    assert apps.read_namespaced_deployment("web", namespace).metadata.generation == 1
    apps.patch_namespaced_deployment("web", namespace, {"metadata": {"labels": {"x": "y"}}})
    assert apps.read_namespaced_deployment("web", namespace).metadata.generation == 1
    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 2}})
    assert apps.read_namespaced_deployment("web", namespace).metadata.generation == 2


def test_label_selectors(core: Any, namespace: str) -> None:
    for name, labels in {
        "web-prod": {"tier": "web", "env": "prod"},
        "web-dev": {"tier": "web", "env": "dev"},
        "db-prod": {"tier": "db", "env": "prod"},
        "plain": {},
    }.items():
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})

    def names(selector: str) -> set[str]:
        items = core.list_namespaced_config_map(namespace, label_selector=selector).items
        return {i.metadata.name for i in items} - {"kube-root-ca.crt"}

    assert names("tier=web") == {"web-prod", "web-dev"}
    assert names("tier==web,env=prod") == {"web-prod"}
    assert names("tier!=web") == {"db-prod", "plain"}
    assert names("tier in (web, db),env notin (dev)") == {"web-prod", "db-prod"}
    assert names("env") == {"web-prod", "web-dev", "db-prod"}
    assert names("!env") == {"plain"}

    core.delete_collection_namespaced_config_map(namespace, label_selector="env=prod")
    assert names("") == {"web-dev", "plain"}


def test_field_selectors_and_all_namespaces(
    core: Any, namespace: str, manifests: Any, eventually: Any
) -> None:
    core.create_namespaced_pod(namespace, manifests.pod("a", nodeName="dev-node-2"))
    core.create_namespaced_pod(namespace, manifests.pod("b", nodeName="dev-node-1"))

    by_name = core.list_namespaced_pod(namespace, field_selector="metadata.name=a").items
    assert [p.metadata.name for p in by_name] == ["a"]
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=dev-node-2").items
    assert ("a", namespace) in {(p.metadata.name, p.metadata.namespace) for p in on_node}
    assert "b" not in {p.metadata.name for p in on_node if p.metadata.namespace == namespace}
    running_here = f"metadata.namespace={namespace},status.phase=Running"
    eventually(
        lambda: (
            {
                p.metadata.name
                for p in core.list_pod_for_all_namespaces(field_selector=running_here).items
            }
            == {"a", "b"}
        )
    )
    assert not core.list_namespaced_pod(namespace, field_selector="status.phase!=Running").items
    with pytest.raises(ApiException) as unsupported:
        core.list_namespaced_pod(namespace, field_selector="spec.hostname=x")
    assert unsupported.value.status == 400


def test_generate_name_and_pagination(core: Any, namespace: str) -> None:
    made = {
        core.create_namespaced_config_map(
            namespace, {"metadata": {"generateName": "job-"}}
        ).metadata.name
        for _ in range(5)
    }
    assert len(made) == 5 and all(n.startswith("job-") and len(n) == 9 for n in made)
    seen: list[str] = []
    token = None
    while True:
        page = core.list_namespaced_config_map(namespace, limit=2, _continue=token)
        seen += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert set(seen) == made | {"kube-root-ca.crt"} and len(seen) == len(set(seen))


def test_patch_flavours(core: Any, namespace: str, manifests: Any) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "p", "labels": {"a": "1"}},
            "spec": {
                "containers": [
                    {"name": "app", "image": "busybox:1.36"},
                    {"name": "sidecar", "image": "envoy:1.30"},
                ]
            },
        },
    )
    # strategic merge patch (the client's default for dicts) merges containers by name
    core.patch_namespaced_pod(
        "p", namespace, {"spec": {"containers": [{"name": "sidecar", "image": "envoy:1.31"}]}}
    )
    pod = core.read_namespaced_pod("p", namespace)
    assert [(c.name, c.image) for c in pod.spec.containers] == [
        ("app", "busybox:1.36"),
        ("sidecar", "envoy:1.31"),
    ]
    core.patch_namespaced_pod(
        "p", namespace, [{"op": "add", "path": "/metadata/labels/b", "value": "2"}]
    )
    assert core.read_namespaced_pod("p", namespace).metadata.labels == {"a": "1", "b": "2"}
    core.patch_namespaced_pod(
        "p",
        namespace,
        {"metadata": {"labels": {"a": None}}},
        _content_type="application/merge-patch+json",
    )
    assert core.read_namespaced_pod("p", namespace).metadata.labels == {"b": "2"}
    with pytest.raises(ApiException) as immutable:
        core.patch_namespaced_pod("p", namespace, {"spec": {"restartPolicy": "Never"}})
    assert immutable.value.status == 422


def test_status_subresource_is_separate(apps: Any, namespace: str) -> None:
    labels = {"app": "s"}
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": "s"},
            "spec": {
                "replicas": 0,
                "serviceName": "s",
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "redis:7"}]},
                },
            },
        },
    )
    apps.patch_namespaced_stateful_set("s", namespace, {"status": {"replicas": 9}})
    assert apps.read_namespaced_stateful_set("s", namespace).status.replicas == 0
    apps.patch_namespaced_stateful_set_status("s", namespace, {"spec": {"replicas": 5}})
    assert apps.read_namespaced_stateful_set("s", namespace).spec.replicas == 0
    scale = apps.patch_namespaced_stateful_set_scale("s", namespace, {"spec": {"replicas": 1}})
    assert scale.spec.replicas == 1
    assert apps.read_namespaced_stateful_set("s", namespace).spec.replicas == 1


def test_cluster_scoped_and_rbac_kinds(api_client: Any, namespace: str) -> None:
    rbac: Any = client.RbacAuthorizationV1Api(api_client)
    storage: Any = client.StorageV1Api(api_client)
    role = f"{namespace}:reader"
    rbac.create_cluster_role(
        {
            "metadata": {"name": role},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        }
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "read"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
        },
    )
    assert rbac.read_cluster_role(role).metadata.namespace is None
    assert rbac.read_namespaced_role_binding("read", namespace).role_ref.name == role
    rbac.delete_cluster_role(role)

    classes = {sc.metadata.name: sc for sc in storage.list_storage_class().items}
    assert {"csi-snap", "csi-nosnap", "local", "nfs"} <= set(classes)
    default = classes["csi-snap"].metadata.annotations
    assert default["storageclass.kubernetes.io/is-default-class"] == "true"
    assert classes["local"].volume_binding_mode == "WaitForFirstConsumer"
    drivers = {d.metadata.name for d in storage.list_csi_driver().items}
    assert {"hostpath.csi.k8s.io", "nosnap.csi.k8s.io"} <= drivers


def test_defaults_of_a_fresh_cluster(core: Any, namespace: str) -> None:
    assert {"default", "kube-system", "kube-public"} <= {
        n.metadata.name for n in core.list_namespace().items
    }
    assert core.read_namespaced_service_account("default", namespace).metadata.uid
    nodes = core.list_node().items
    assert len(nodes) >= 2
    for node in nodes:
        labels = node.metadata.labels
        assert labels["kubernetes.io/hostname"] == node.metadata.name
        assert labels["topology.kubernetes.io/zone"]
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready[0].status == "True"


def test_services_get_distinct_cluster_ips(core: Any, namespace: str) -> None:
    def service(name: str, ip: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"port": 80}]}
        if ip:
            spec["clusterIP"] = ip
        return {"metadata": {"name": name}, "spec": spec}

    a = core.create_namespaced_service(namespace, service("a"))
    b = core.create_namespaced_service(namespace, service("b"))
    assert a.spec.cluster_ip != b.spec.cluster_ip
    assert a.spec.ports[0].target_port == 80
    with pytest.raises(ApiException) as taken:
        core.create_namespaced_service(namespace, service("c", a.spec.cluster_ip))
    assert taken.value.status == 422 and "already allocated" in _status(taken)["message"]
