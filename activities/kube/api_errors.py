"""One way for the cluster agent to talk about Kubernetes API errors.

Activities open a client with `cluster_api`: an answer no retry can change becomes a
non-retryable `ApplicationError`, anything else is raised for Temporal to retry. Messages
quote the API's own Status message, never the request, which may hold secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from temporalio.exceptions import ApplicationError

from activities.kube.connection import api_client
from lifeboat.models import Cluster

NON_RETRYABLE_STATUSES = frozenset({400, 401, 403, 404, 405, 410, 413, 415, 422})
"""Answers to an activity's call that retrying the activity will not change."""


def api_error_message(exc: ApiException) -> str:
    """`<status> <reason>: <the API's message>`."""
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"{exc.status} {exc.reason}: {message}" if message else f"{exc.status} {exc.reason}"


@contextmanager
def cluster_api(cluster: Cluster) -> Iterator[client.ApiClient]:
    try:
        with api_client(cluster) as api:
            yield api
    except ApiException as exc:
        if exc.status in NON_RETRYABLE_STATUSES:
            raise ApplicationError(
                f"Kubernetes API of cluster {cluster.name} answered {api_error_message(exc)}",
                type="KubernetesApiError",
                non_retryable=True,
            ) from None
        raise
