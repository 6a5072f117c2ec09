from collections.abc import Callable

import pytest
import yaml

from lifeboat.models import ClusterScoped, ResourceSelection

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


def test_defaults_select_everything() -> None:
    selection = ResourceSelection()
    assert selection.include_namespaces == ["*"]
    assert selection.exclude_namespaces == []
    assert selection.label_selector is None
    assert selection.include_resource_types == ["*"]
    assert selection.exclude_resource_types == []
    assert selection.cluster_scoped is ClusterScoped.AUTO
    assert selection.includes_namespace("anything")
    assert selection.includes_resource_type("deployments", "apps")


def test_namespace_globs() -> None:
    selection = ResourceSelection(
        include_namespaces=["team-*", "app-?", "db-[ab]", "exact"],
        exclude_namespaces=["team-sandbox*"],
    )
    assert selection.includes_namespace("team-payments")
    assert selection.includes_namespace("app-1")
    assert not selection.includes_namespace("app-12")
    assert selection.includes_namespace("db-b")
    assert not selection.includes_namespace("db-c")
    assert selection.includes_namespace("exact")
    assert not selection.includes_namespace("team-sandbox-7")
    assert not ResourceSelection(include_namespaces=[]).includes_namespace("default")


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("Team-*", "is not a namespace glob"),
        ("team_*", "is not a namespace glob"),
        ("a/b", "is not a namespace name"),
        ("Prod", "is not a namespace name: it must be lowercase"),
        ("-x", "is not a namespace name"),
    ],
)
def test_invalid_namespace_patterns(rejection: Rejection, pattern: str, problem: str) -> None:
    message = rejection(ResourceSelection, {"exclude_namespaces": ["ok", pattern]})
    assert message.startswith(f"exclude_namespaces[1]: {pattern!r} {problem}")


@pytest.mark.parametrize(
    "entry", ["deployments", "deployments.apps", "volumesnapshots.snapshot.storage.k8s.io", "*"]
)
def test_resource_type_forms(entry: str) -> None:
    assert ResourceSelection(include_resource_types=[entry]).include_resource_types == [entry]


def test_resource_type_matching() -> None:
    selection = ResourceSelection(
        include_resource_types=["deployments", "volumesnapshots.snapshot.storage.k8s.io"],
        exclude_resource_types=["deployments.extensions"],
    )
    assert selection.includes_resource_type("deployments", "apps")
    assert not selection.includes_resource_type("deployments", "extensions")
    assert selection.includes_resource_type("volumesnapshots", "snapshot.storage.k8s.io")
    assert not selection.includes_resource_type("volumesnapshots", "example.com")
    assert not selection.includes_resource_type("pods", "")
    everything_but_secrets = ResourceSelection(exclude_resource_types=["secrets"])
    assert not everything_but_secrets.includes_resource_type("secrets", "")
    assert everything_but_secrets.includes_resource_type("configmaps", "")


def test_invalid_resource_types(rejection: Rejection) -> None:
    assert rejection(ResourceSelection, {"include_resource_types": ["Deployment"]}) == (
        "include_resource_types[0]: 'Deployment' is not a resource type: use the lowercase "
        "plural resource name (e.g. 'deployments', not 'Deployment')"
    )
    message = rejection(ResourceSelection, {"exclude_resource_types": ["deploy ments"]})
    assert message.startswith("exclude_resource_types[0]: 'deploy ments' is not a resource type")
    assert "allowed forms: '<resource>', '<resource>.<group>'" in message


def test_cluster_scoped_values(rejection: Rejection) -> None:
    for value in ("on", "off", "auto"):
        assert ResourceSelection(cluster_scoped=value).cluster_scoped.value == value
    assert ResourceSelection.model_validate({"cluster_scoped": True}).cluster_scoped == "on"
    assert ResourceSelection.model_validate({"cluster_scoped": False}).cluster_scoped == "off"
    assert rejection(ResourceSelection, {"cluster_scoped": "maybe"}) == (
        "cluster_scoped: 'maybe' is not allowed; allowed: 'on', 'off' or 'auto'"
    )


def test_yaml_on_off_read_as_meant() -> None:
    data = yaml.safe_load("cluster_scoped: off\ninclude_namespaces: [team-*]\n")
    assert ResourceSelection.model_validate(data).cluster_scoped is ClusterScoped.OFF


def test_entry_both_included_and_excluded(rejection: Rejection) -> None:
    message = rejection(
        ResourceSelection, {"include_namespaces": ["a", "b"], "exclude_namespaces": ["c", "b"]}
    )
    assert message == (
        "exclude_namespaces[1]: 'b' is both in include_namespaces and exclude_namespaces; "
        "keep it in one of them"
    )
