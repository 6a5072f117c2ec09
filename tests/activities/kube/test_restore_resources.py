"""Restoring exported objects into the emulated clusters: namespace and storage class
mapping, order, the existing-resource policy, validation before any side effect."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from temporalio.exceptions import ApplicationError

from activities.kube import rest
from activities.kube.connection import api_client
from activities.kube.export import export_resources
from activities.kube.restore_apply import restore_resources
from devstack.info import StackInfo
from lifeboat.contracts.restore import (
    RestoreObjectResult,
    RestoreOutcome,
    RestoreResourcesInput,
    RestoreResourcesResult,
)
from lifeboat.models import Cluster, ExistingResourcePolicy, ResourceSelection, RestoreRequest

RECOVERY_POINT = "rp-restore-test"
CONFIG_MAPS = "/api/v1/namespaces/{}/configmaps"


@dataclass(frozen=True)
class Source:
    namespace: str
    crd_group: str
    export_dir: Path


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _wait(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"not true after {timeout} s"
        time.sleep(0.1)
    return result


def _crd(group: str, plural: str, kind: str) -> rest.Obj:
    return {
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
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
    }


def _post(api: client.ApiClient, path: str, body: rest.Obj) -> rest.Obj:
    return rest.request(api, "POST", path, body=body)


def _build_source(api: client.ApiClient, ns: str, group: str) -> None:
    """A namespace with one of everything a restore handles specially."""
    app = {"app": "web"}
    _post(api, "/api/v1/namespaces", {"metadata": {"name": ns}})
    core = f"/api/v1/namespaces/{ns}"
    _post(api, f"{core}/configmaps", {"metadata": {"name": "settings"}, "data": {"mode": "a"}})
    _post(api, f"{core}/secrets", {"metadata": {"name": "creds"}, "stringData": {"k": "v"}})
    _post(api, f"{core}/serviceaccounts", {"metadata": {"name": "runner"}})
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    _post(api, f"{rbac}/roles", {"metadata": {"name": "reader"}, "rules": [rule]})
    _post(
        api,
        f"{rbac}/rolebindings",
        {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": ns}],
        },
    )
    _post(
        api,
        f"{core}/services",
        {"metadata": {"name": "web"}, "spec": {"selector": app, "ports": [{"port": 80}]}},
    )
    _post(
        api,
        f"{core}/persistentvolumeclaims",
        {
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "csi-snap",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    pod_spec = {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            }
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
    }
    _post(
        api,
        f"/apis/apps/v1/namespaces/{ns}/deployments",
        {
            "metadata": {"name": "web", "labels": app},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": app},
                "template": {"metadata": {"labels": app}, "spec": pod_spec},
            },
        },
    )
    job_pod = {"restartPolicy": "Never", "containers": [{"name": "once", "image": "busybox:1.36"}]}
    _post(
        api,
        f"/apis/batch/v1/namespaces/{ns}/jobs",
        {"metadata": {"name": "migrate"}, "spec": {"template": {"spec": job_pod}}},
    )
    for plural, kind in (("gadgets", "Gadget"), ("gizmos", "Gizmo")):
        _post(
            api,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            _crd(group, plural, kind),
        )
    for plural, kind in (("gadgets", "Gadget"), ("gizmos", "Gizmo")):
        path = f"/apis/{group}/v1/namespaces/{ns}/{plural}"
        body = {
            "apiVersion": f"{group}/v1",
            "kind": kind,
            "metadata": {"name": "one"},
            "spec": {"size": 3},
        }
        _wait(partial(_try_post, api, path, body))
    # The deployment's ReplicaSet and pod exist, and the claim is bound, before the export.
    _wait(lambda: any(rest.list_items(api, f"{core}/pods")))
    _wait(lambda: rest.get(api, f"{core}/persistentvolumeclaims/data")["spec"].get("volumeName"))


def _try_post(api: client.ApiClient, path: str, body: rest.Obj) -> bool:
    try:
        _post(api, path, body)
    except client.ApiException as exc:
        if exc.status == 404:  # the CRD is not established yet
            return False
        raise
    return True


@pytest.fixture(scope="module")
def dev_api(stack: StackInfo) -> Iterator[client.ApiClient]:
    info = stack.clusters["dev"]
    with api_client(Cluster(name="dev", kubeconfig=str(info.kubeconfig))) as api:
        yield api


@pytest.fixture(scope="module")
def dev2_api(stack: StackInfo) -> Iterator[client.ApiClient]:
    info = stack.clusters["dev2"]
    with api_client(Cluster(name="dev2", kubeconfig=str(info.kubeconfig))) as api:
        yield api


@pytest.fixture(scope="module")
def source(dev_api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    namespace = _unique("rsrc")
    group = f"{uuid.uuid4().hex[:6]}.restore.lifeboat.dev"
    _build_source(dev_api, namespace, group)
    export_dir = tmp_path_factory.mktemp("export")
    crds = ["customresourcedefinitions.apiextensions.k8s.io"]
    export_resources(
        dev_api,
        ResourceSelection(include_namespaces=[namespace], include_resource_types=["*"]),
        export_dir,
    )
    assert (export_dir / "resources" / "_cluster" / crds[0] / f"gadgets.{group}.json").exists()
    yield Source(namespace, group, export_dir)
    rest.delete(dev_api, f"/api/v1/namespaces/{namespace}")
    for plural in ("gadgets", "gizmos"):
        rest.delete(
            dev_api, f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{group}"
        )


@pytest.fixture
def cleanup() -> Iterator[Callable[[client.ApiClient, str], None]]:
    """Namespaces (and paths) to delete after the test, on the cluster they were made in."""
    made: list[tuple[client.ApiClient, str]] = []
    yield lambda api, path: made.append((api, path))
    for api, path in made:
        rest.delete(api, path)


def _restore(
    api: client.ApiClient, source: Source, run_id: str | None = None, **request: Any
) -> RestoreResourcesResult:
    return restore_resources(
        api,
        RestoreResourcesInput(
            run_id=run_id or _unique("run"),
            request=RestoreRequest(recovery_point=RECOVERY_POINT, **request),
            resources_dir=str(source.export_dir),
        ),
    )


def _find(result: RestoreResourcesResult, resource: str, name: str) -> RestoreObjectResult:
    [found] = [r for r in result.objects if r.resource == resource and r.name == name]
    return found


def test_restore_into_another_namespace_rewrites_references(
    dev_api: client.ApiClient, source: Source, cleanup: Callable[[client.ApiClient, str], None]
) -> None:
    target = _unique("rdst")
    cleanup(dev_api, f"/api/v1/namespaces/{target}")
    run_id = _unique("run")

    result = _restore(dev_api, source, run_id, namespace_mapping={source.namespace: target})

    assert _find(result, "namespaces", target).outcome == RestoreOutcome.CREATED
    failed = [r for r in result.objects if r.outcome == RestoreOutcome.FAILED]
    assert failed == []
    settings = rest.get(dev_api, f"{CONFIG_MAPS.format(target)}/settings")
    assert settings["data"] == {"mode": "a"}
    assert settings["metadata"]["labels"]["lifeboat.io/run"] == run_id
    assert settings["metadata"]["labels"]["lifeboat.io/restored-from"] == RECOVERY_POINT
    binding = rest.get(
        dev_api, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{target}/rolebindings/reader"
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "runner", "namespace": target}
    ]
    old_ip = rest.get(dev_api, f"/api/v1/namespaces/{source.namespace}/services/web")["spec"]
    new_ip = rest.get(dev_api, f"/api/v1/namespaces/{target}/services/web")["spec"]
    assert new_ip["clusterIP"] != old_ip["clusterIP"]
    # Pods and ReplicaSets are the Deployment's to make: reported, not restored...
    pod_results = [r for r in result.objects if r.resource == "pods"]
    assert pod_results and all(r.outcome == RestoreOutcome.SKIPPED for r in pod_results)
    assert all("controller" in (r.reason or "") for r in pod_results)
    assert (
        _find(
            result,
            "replicasets.apps",
            next(r.name for r in result.objects if r.resource == "replicasets.apps"),
        ).outcome
        == RestoreOutcome.SKIPPED
    )
    assert {(c.namespace, c.name) for c in result.claims} == {(target, "data")}
    assert _find(result, "jobs.batch", "migrate").outcome == RestoreOutcome.CREATED
    job = rest.get(dev_api, f"/apis/batch/v1/namespaces/{target}/jobs/migrate")
    job_uid = job["metadata"]["uid"]
    assert job["spec"]["selector"]["matchLabels"] == {"batch.kubernetes.io/controller-uid": job_uid}
    assert result.counts[RestoreOutcome.FAILED] == 0
    # ...and the restored Deployment comes up with pods of its own, on a new bound claim.
    pods = f"/api/v1/namespaces/{target}/pods"
    running = _wait(
        lambda: [
            p
            for p in rest.list_items(dev_api, pods)
            if (p.get("status") or {}).get("phase") == "Running"
        ]
    )
    assert running[0]["metadata"]["labels"]["app"] == "web"
    claim = rest.get(dev_api, f"/api/v1/namespaces/{target}/persistentvolumeclaims/data")
    source_claim = rest.get(
        dev_api, f"/api/v1/namespaces/{source.namespace}/persistentvolumeclaims/data"
    )
    assert claim["spec"]["volumeName"] != source_claim["spec"]["volumeName"]


def test_restore_into_second_cluster_maps_storage_classes_and_orders_crds(
    dev2_api: client.ApiClient, source: Source, cleanup: Callable[[client.ApiClient, str], None]
) -> None:
    target = _unique("rdev2")
    cleanup(dev2_api, f"/api/v1/namespaces/{target}")
    cleanup(
        dev2_api,
        f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.{source.crd_group}",
    )

    result = _restore(
        dev2_api,
        source,
        namespace_mapping={source.namespace: target},
        storage_class_mapping={"csi-snap": "local"},
        selection=ResourceSelection(
            exclude_resource_types=[f"gizmos.{source.crd_group}"],
        ),
    )

    refs = [r.ref for r in result.objects if r.outcome == RestoreOutcome.CREATED]
    crd = f"customresourcedefinitions.apiextensions.k8s.io/gadgets.{source.crd_group}"
    gadget = f"gadgets.{source.crd_group}/{target}/one"
    assert (
        refs.index(crd)
        < refs.index(f"namespaces/{target}")
        < refs.index(f"persistentvolumeclaims/{target}/data")
        < refs.index(f"configmaps/{target}/settings")
        < refs.index(f"deployments.apps/{target}/web")
        < refs.index(gadget)
    )
    assert rest.get(dev2_api, f"/apis/{source.crd_group}/v1/namespaces/{target}/gadgets/one")[
        "spec"
    ] == {"size": 3}
    # `local` binds when the restored Deployment's pod is scheduled.
    claim_path = f"/api/v1/namespaces/{target}/persistentvolumeclaims/data"
    claim = _wait(lambda: (c := rest.get(dev2_api, claim_path))["spec"].get("volumeName") and c)
    assert claim["spec"]["storageClassName"] == "local"
    pv = rest.get(dev2_api, f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
    assert pv["spec"]["storageClassName"] == "local" and "local" in pv["spec"]


def test_unknown_resource_type_fails_alone(
    dev2_api: client.ApiClient, source: Source, cleanup: Callable[[client.ApiClient, str], None]
) -> None:
    target = _unique("rtype")
    cleanup(dev2_api, f"/api/v1/namespaces/{target}")

    result = _restore(
        dev2_api,
        source,
        namespace_mapping={source.namespace: target},
        selection=ResourceSelection(
            include_resource_types=["configmaps", f"gizmos.{source.crd_group}"],
            exclude_resource_types=["customresourcedefinitions.apiextensions.k8s.io"],
        ),
    )

    gizmo = _find(result, f"gizmos.{source.crd_group}", "one")
    assert gizmo.outcome == RestoreOutcome.FAILED
    assert "does not serve" in (gizmo.reason or "")
    assert _find(result, "configmaps", "settings").outcome == RestoreOutcome.CREATED


def test_existing_objects_skipped_or_updated_by_policy(
    dev_api: client.ApiClient, source: Source, cleanup: Callable[[client.ApiClient, str], None]
) -> None:
    target = _unique("rpol")
    cleanup(dev_api, f"/api/v1/namespaces/{target}")
    only = ResourceSelection(
        include_resource_types=["configmaps", "services", "namespaces", "persistentvolumeclaims"]
    )
    mapping = {source.namespace: target}
    first = _restore(dev_api, source, namespace_mapping=mapping, selection=only)
    assert _find(first, "configmaps", "settings").outcome == RestoreOutcome.CREATED
    path = f"{CONFIG_MAPS.format(target)}/settings"
    rest.merge_patch(dev_api, path, {"data": {"mode": "changed"}})
    service_ip = rest.get(dev_api, f"/api/v1/namespaces/{target}/services/web")["spec"]["clusterIP"]

    skipped = _restore(dev_api, source, namespace_mapping=mapping, selection=only)
    assert _find(skipped, "configmaps", "settings").outcome == RestoreOutcome.SKIPPED
    assert _find(skipped, "configmaps", "settings").reason == "exists"
    assert rest.get(dev_api, path)["data"] == {"mode": "changed"}

    updated = _restore(
        dev_api,
        source,
        namespace_mapping=mapping,
        selection=only,
        storage_class_mapping={"csi-snap": "csi-nosnap"},
        existing_resource_policy=ExistingResourcePolicy.UPDATE,
    )
    assert _find(updated, "configmaps", "settings").outcome == RestoreOutcome.UPDATED
    assert rest.get(dev_api, path)["data"] == {"mode": "a"}
    assert _find(updated, "services", "web").outcome == RestoreOutcome.UPDATED
    service = rest.get(dev_api, f"/api/v1/namespaces/{target}/services/web")
    assert service["spec"]["clusterIP"] == service_ip
    # A claim's spec is immutable: the cluster's stays, and the result says so.
    claim = _find(updated, "persistentvolumeclaims", "data")
    assert (claim.outcome, claim.kept_fields) == (RestoreOutcome.UPDATED, ("spec",))
    claim_path = f"/api/v1/namespaces/{target}/persistentvolumeclaims/data"
    assert rest.get(dev_api, claim_path)["spec"]["storageClassName"] == "csi-snap"


def test_retried_restore_reports_its_own_objects_as_created(
    dev_api: client.ApiClient, source: Source, cleanup: Callable[[client.ApiClient, str], None]
) -> None:
    target = _unique("rretry")
    cleanup(dev_api, f"/api/v1/namespaces/{target}")
    only = ResourceSelection(include_resource_types=["configmaps", "namespaces"])
    mapping = {source.namespace: target}
    _restore(dev_api, source, "run-same", namespace_mapping=mapping, selection=only)

    again = _restore(dev_api, source, "run-same", namespace_mapping=mapping, selection=only)

    assert _find(again, "configmaps", "settings").outcome == RestoreOutcome.CREATED


def test_unknown_storage_class_rejected_before_anything_is_created(
    dev2_api: client.ApiClient, source: Source
) -> None:
    target = _unique("rbad")

    with pytest.raises(ApplicationError) as raised:
        _restore(
            dev2_api,
            source,
            namespace_mapping={source.namespace: target},
            storage_class_mapping={"csi-snap": "no-such-class"},
        )

    assert raised.value.non_retryable
    assert "storage_class_mapping" in str(raised.value) and "no-such-class" in str(raised.value)
    assert rest.find(dev2_api, f"/api/v1/namespaces/{target}") is None
