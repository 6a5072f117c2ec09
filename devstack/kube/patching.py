"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge.

Strategic merge is approximated: lists whose items all carry a `name` (containers,
volumes, env, ports...) merge item by item on `name`, the way the API server merges the
common patchMergeKey lists; other lists are replaced, as in a merge patch.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _named_items(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, dict) and "name" in i for i in value)
    )


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        if _named_items(patch) and _named_items(target):
            by_name = {item["name"]: item for item in target}
            merged = [strategic_merge_patch(by_name.pop(p["name"], {}), p) for p in patch]
            kept = [item for item in target if item["name"] in by_name]
            return kept + merged
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # directives ($patch, $retainKeys...) are not emulated
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def apply_patch(obj: dict[str, Any], patch: Any, content_type: str) -> dict[str, Any]:
    """The patched object; 400/415/422 as the server answers a bad patch."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a list of operations")
        try:
            result = jsonpatch.apply_patch(obj, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ApiError(422, "Invalid", f"the json patch could not be applied: {exc}") from exc
    elif media in (MERGE_PATCH, APPLY_PATCH):
        result = merge_patch(obj, patch)
    elif media == STRATEGIC_MERGE_PATCH:
        result = strategic_merge_patch(obj, patch)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an "
            f"unknown format - accepted media types include: {JSON_PATCH}, "
            f"{MERGE_PATCH}, {STRATEGIC_MERGE_PATCH}, {APPLY_PATCH}",
        )
    if not isinstance(result, dict):
        raise bad_request("the patch does not produce an object")
    return result
