"""Plain JSON requests to the Kubernetes API through a configured `ApiClient`.

Backup walks every resource type generically, so it speaks paths and dicts rather than the
typed client's per-kind methods; the `ApiClient` still supplies authentication, TLS and the
connection pool, and non-2xx answers still raise `kubernetes.client.ApiException`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

Obj = dict[str, Any]
"""A Kubernetes object as the API serves it in JSON."""

MERGE_PATCH = "application/merge-patch+json"
LIST_PAGE_SIZE = 500
REQUEST_TIMEOUT_SECONDS = 30.0


def request(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    query: Mapping[str, str | int | None] | None = None,
    body: Obj | None = None,
    content_type: str = "application/json",
) -> Obj:
    """One request; the decoded JSON answer. Raises `ApiException` on a non-2xx status."""
    params = [(k, str(v)) for k, v in (query or {}).items() if v is not None]
    serialized = api.param_serialize(
        method,
        path,
        query_params=params,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT_SECONDS)
    data = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        api.response_deserialize(response, {})  # raises the ApiException matching the status
        raise ApiException(status=response.status, reason=response.reason)
    decoded: Obj = json.loads(data) if data else {}
    return decoded


def get(api: client.ApiClient, path: str, **query: str | int | None) -> Obj:
    return request(api, "GET", path, query=query)


def find(api: client.ApiClient, path: str) -> Obj | None:
    """The object at `path`, or None when it does not exist."""
    try:
        return get(api, path)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def gone(api: client.ApiClient, path: str) -> bool:
    return find(api, path) is None


def list_items(
    api: client.ApiClient, path: str, *, label_selector: str | None = None
) -> Iterator[Obj]:
    """Every item of a collection, page by page so a large cluster never comes in one answer.

    Items of a list carry no apiVersion/kind; they are filled in from the list's own.
    """
    token: str | None = None
    while True:
        page = get(
            api, path, labelSelector=label_selector, limit=LIST_PAGE_SIZE, **{"continue": token}
        )
        api_version = page.get("apiVersion", "")
        kind = page.get("kind", "").removesuffix("List")
        for item in page.get("items") or []:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
            yield item
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            return


def create(api: client.ApiClient, path: str, body: Obj) -> Obj | None:
    """Create at the collection `path`; None when an object of that name exists already."""
    try:
        return request(api, "POST", path, body=body)
    except ApiException as exc:
        if exc.status == 409:
            return None
        raise


def merge_patch(api: client.ApiClient, path: str, patch: Obj) -> Obj:
    return request(api, "PATCH", path, body=patch, content_type=MERGE_PATCH)


def delete(api: client.ApiClient, path: str) -> bool:
    """Delete with background propagation; False when it was gone already (404 is done)."""
    try:
        request(api, "DELETE", path, query={"propagationPolicy": "Background"})
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True
