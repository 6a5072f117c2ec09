"""Workload controllers, garbage collection and namespace deletion."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from devstack.info import ClusterInfo
from devstack.kube.layout import volume_data_dir


def _workload(name: str, replicas: int | None = None, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    body: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]},
            },
            **spec,
        },
    }
    if replicas is not None:
        body["spec"]["replicas"] = replicas
    return body


def _pods(core: Any, namespace: str, app: str) -> list[Any]:
    items: list[Any] = core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return items


def test_deployment_rolls_out_and_scales(
    core: Any, apps: Any, namespace: str, eventually: Any
) -> None:
    deployment = apps.create_namespaced_deployment(namespace, _workload("web", 3))
    status = eventually(
        lambda: (
            (d := apps.read_namespaced_deployment("web", namespace).status).ready_replicas == 3
            and d
        )
    )
    assert status.available_replicas == 3 and status.observed_generation == 1
    [rs] = apps.list_namespaced_replica_set(namespace).items
    assert rs.metadata.owner_references[0].uid == deployment.metadata.uid
    pods = _pods(core, namespace, "web")
    assert len(pods) == 3
    assert all(p.metadata.owner_references[0].name == rs.metadata.name for p in pods)
    assert all(p.metadata.labels["pod-template-hash"] for p in pods)
    assert all(p.metadata.name.startswith(f"{rs.metadata.name}-") for p in pods)

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 1}})
    eventually(lambda: len(_pods(core, namespace, "web")) == 1)

    new_image = {
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}
    }
    apps.patch_namespaced_deployment("web", namespace, new_image)
    sets = eventually(
        lambda: len(s := apps.list_namespaced_replica_set(namespace).items) == 2 and s
    )
    assert sorted(r.spec.replicas for r in sets) == [0, 1]
    [pod] = eventually(lambda: (p := _pods(core, namespace, "web")) and len(p) == 1 and p)
    assert pod.spec.containers[0].image == "nginx:2"

    apps.delete_namespaced_deployment("web", namespace)
    eventually(lambda: not apps.list_namespaced_replica_set(namespace).items)
    eventually(lambda: not _pods(core, namespace, "web"))


def test_orphaned_dependents_survive_their_owner(
    core: Any, apps: Any, namespace: str, eventually: Any
) -> None:
    apps.create_namespaced_replica_set(namespace, _workload("rs", 2))
    eventually(lambda: len(_pods(core, namespace, "rs")) == 2)
    apps.delete_namespaced_replica_set("rs", namespace, propagation_policy="Orphan")
    pods = _pods(core, namespace, "rs")
    assert len(pods) == 2 and all(not p.metadata.owner_references for p in pods)


def test_statefulset_makes_ordered_pods_with_their_own_claims(
    core: Any, apps: Any, namespace: str, eventually: Any
) -> None:
    claim_template = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    apps.create_namespaced_stateful_set(
        namespace, _workload("db", 2, serviceName="db", volumeClaimTemplates=[claim_template])
    )
    eventually(
        lambda: apps.read_namespaced_stateful_set("db", namespace).status.ready_replicas == 2
    )
    pods = {p.metadata.name: p for p in _pods(core, namespace, "db")}
    assert set(pods) == {"db-0", "db-1"}
    claims = {
        c.metadata.name: c for c in core.list_namespaced_persistent_volume_claim(namespace).items
    }
    assert set(claims) == {"data-db-0", "data-db-1"}
    assert all(
        c.status.phase == "Bound" and c.spec.storage_class_name == "csi-snap"
        for c in claims.values()
    )
    volumes = {v.name: v for v in pods["db-1"].spec.volumes}
    assert volumes["data"].persistent_volume_claim.claim_name == "data-db-1"
    assert pods["db-0"].spec.hostname == "db-0" and pods["db-0"].spec.subdomain == "db"

    apps.patch_namespaced_stateful_set("db", namespace, {"spec": {"replicas": 1}})
    eventually(lambda: {p.metadata.name for p in _pods(core, namespace, "db")} == {"db-0"})
    assert len(core.list_namespaced_persistent_volume_claim(namespace).items) == 2


def test_daemonset_and_job(
    api_client: Any,
    core: Any,
    apps: Any,
    namespace: str,
    eventually: Any,
    kube: ClusterInfo,
) -> None:
    apps.create_namespaced_daemon_set(namespace, _workload("agent"))
    eventually(
        lambda: (
            apps.read_namespaced_daemon_set("agent", namespace).status.number_ready
            == len(kube.nodes)
        )
    )
    assert {p.spec.node_name for p in _pods(core, namespace, "agent")} == {
        n.name for n in kube.nodes
    }

    batch: Any = client.BatchV1Api(api_client)
    job = _workload("once")
    job["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    del job["spec"]["selector"]
    batch.create_namespaced_job(namespace, job)
    done = eventually(
        lambda: (j := batch.read_namespaced_job("once", namespace)).status.succeeded == 1 and j
    )
    assert {c.type for c in done.status.conditions} >= {"Complete"}
    [pod] = core.list_namespaced_pod(namespace, label_selector="job-name=once").items
    assert pod.status.phase == "Succeeded"


def test_deleting_a_namespace_deletes_its_contents(
    core: Any,
    apps: Any,
    manifests: Any,
    eventually: Any,
    kube: ClusterInfo,
) -> None:
    namespace = f"doomed-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("d", "csi-snap"))
    core.create_namespaced_pod(namespace, manifests.pod("app", claim="d"))
    apps.create_namespaced_deployment(namespace, _workload("web", 1))
    pv = eventually(
        lambda: core.read_namespaced_persistent_volume_claim("d", namespace).spec.volume_name
    )

    core.delete_namespace(namespace)
    eventually(lambda: namespace not in {n.metadata.name for n in core.list_namespace().items})
    assert not core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace}"
    ).items
    eventually(lambda: not core.list_persistent_volume(field_selector=f"metadata.name={pv}").items)
    assert not volume_data_dir(kube.state_dir, pv).exists()


def test_a_finalizer_holds_a_terminating_namespace(core: Any, eventually: Any) -> None:
    namespace = f"held-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )
    core.delete_namespace(namespace)
    assert core.read_namespace(namespace).status.phase == "Terminating"
    held = core.read_namespaced_config_map("held", namespace)
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "new"}})
    assert refused.value.status == 403 and "being terminated" in str(refused.value.body)

    core.patch_namespaced_config_map("held", namespace, {"metadata": {"finalizers": None}})
    eventually(lambda: namespace not in {n.metadata.name for n in core.list_namespace().items})
