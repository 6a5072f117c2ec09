"""Discovery of resource types on the emulated cluster, and which ones a backup walks."""

from __future__ import annotations

from kubernetes import client

from activities.kube.discovery import (
    backup_resource_types,
    collection_path,
    is_backed_up,
    served_resource_types,
)
from lifeboat.contracts.kube import ResourceType


def test_served_types_at_preferred_versions_without_subresources(
    kube_api: client.ApiClient,
) -> None:
    served = {t.name: t for t in served_resource_types(kube_api)}

    deployments = served["deployments.apps"]
    assert (deployments.group, deployments.version, deployments.kind) == (
        "apps",
        "v1",
        "Deployment",
    )
    assert deployments.namespaced and {"list", "create", "get"} <= set(deployments.verbs)
    assert not served["persistentvolumes"].namespaced
    assert (
        served["volumesnapshots.snapshot.storage.k8s.io"].api_version
        == "snapshot.storage.k8s.io/v1"
    )
    assert not any("/" in t.plural for t in served.values())
    assert "events" in served and "nodes" in served


def test_backup_leaves_out_runtime_state(kube_api: client.ApiClient) -> None:
    names = {t.name for t in backup_resource_types(kube_api)}

    assert {"pods", "persistentvolumeclaims", "deployments.apps", "namespaces"} <= names
    assert not names & {"events", "nodes", "endpoints"}


def test_a_type_that_cannot_be_listed_or_created_is_not_backed_up() -> None:
    review = ResourceType(
        group="authentication.k8s.io",
        version="v1",
        kind="TokenReview",
        plural="tokenreviews",
        namespaced=False,
        verbs=["create"],
    )
    report = review.model_copy(
        update={"plural": "componentstatuses", "group": "", "verbs": ["get", "list"]}
    )

    assert not is_backed_up(review) and not is_backed_up(report)
    assert is_backed_up(review.model_copy(update={"verbs": ["create", "get", "list"]}))


def test_collection_paths() -> None:
    pods = ResourceType(
        group="", version="v1", kind="Pod", plural="pods", namespaced=True, verbs=[]
    )
    jobs = pods.model_copy(update={"group": "batch", "kind": "Job", "plural": "jobs"})

    assert collection_path(pods) == "/api/v1/pods"
    assert collection_path(pods, "shop") == "/api/v1/namespaces/shop/pods"
    assert collection_path(jobs, "shop") == "/apis/batch/v1/namespaces/shop/jobs"
