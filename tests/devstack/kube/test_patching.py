"""PATCH semantics, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.kube.errors import ApiError
from devstack.kube.patching import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
)

POD: dict[str, Any] = {
    "metadata": {"name": "p", "labels": {"a": "1", "b": "2"}},
    "spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]},
}


def test_merge_patch_deletes_with_null_and_replaces_lists() -> None:
    patch = {"metadata": {"labels": {"a": None}}, "spec": {"containers": [{"name": "x"}]}}
    result = apply_patch(POD, patch, MERGE_PATCH)
    assert result["metadata"]["labels"] == {"b": "2"}
    assert result["spec"]["containers"] == [{"name": "x"}]
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}  # the input is untouched


def test_strategic_merge_merges_named_items() -> None:
    patch = {"spec": {"containers": [{"name": "side", "image": "s:2"}, {"name": "new"}]}}
    result = apply_patch(POD, patch, f"{STRATEGIC_MERGE_PATCH}; charset=utf-8")
    assert result["spec"]["containers"] == [
        {"name": "app", "image": "a:1"},
        {"name": "side", "image": "s:2"},
        {"name": "new"},
    ]


def test_json_patch_and_its_errors() -> None:
    ops = [{"op": "replace", "path": "/spec/containers/0/image", "value": "a:2"}]
    assert apply_patch(POD, ops, JSON_PATCH)["spec"]["containers"][0]["image"] == "a:2"
    with pytest.raises(ApiError) as failed:
        apply_patch(POD, [{"op": "remove", "path": "/metadata/missing"}], JSON_PATCH)
    assert failed.value.code == 422
    with pytest.raises(ApiError) as unknown:
        apply_patch(POD, {}, "text/plain")
    assert unknown.value.code == 415
