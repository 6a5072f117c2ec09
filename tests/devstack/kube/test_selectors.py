"""Label and field selector parsing, without a server."""

from __future__ import annotations

import pytest

from devstack.kube.errors import ApiError
from devstack.kube.kinds import builtin
from devstack.kube.selectors import field_predicate, label_predicate, selector_object_matches

LABELS = {"tier": "web", "env": "prod"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("tier=web", True),
        ("tier==web,env!=prod", False),
        ("tier in (web,db)", True),
        ("tier notin (web)", False),
        ("missing notin (x)", True),
        ("env,!missing", True),
        ("!env", False),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert label_predicate(selector)(LABELS) is matches


def test_label_selector_object_form() -> None:
    selector = {
        "matchLabels": {"tier": "web"},
        "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stage"]}],
    }
    assert selector_object_matches(selector, LABELS)
    assert not selector_object_matches(selector, {"tier": "web"})
    assert selector_object_matches({}, {})


def test_field_selector_checks_supported_fields() -> None:
    pods = builtin("", "Pod")
    pod = {"metadata": {"name": "a"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    assert field_predicate("spec.nodeName=n1,status.phase!=Pending", pods)(pod)
    assert not field_predicate("metadata.name=b", pods)(pod)
    with pytest.raises(ApiError) as unsupported:
        field_predicate("spec.hostname=x", pods)
    assert unsupported.value.code == 400
    with pytest.raises(ApiError):
        label_predicate("tier in (web")
