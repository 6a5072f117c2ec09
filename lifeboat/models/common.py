"""Shared value types: Kubernetes names, node paths, data mover limits."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated

from pydantic import Field

from datamover.limits import MAX_LIMIT_MIB, MIN_LIMIT_MIB
from lifeboat.models.constraints import Check, Range
from lifeboat.models.errors import invalid, show

DNS_LABEL_MAX = 63
DNS_SUBDOMAIN_MAX = 253
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


def dns_label_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label (RFC 1123, as Kubernetes uses it), or None."""
    if not value:
        return "must not be empty"
    if len(value) > DNS_LABEL_MAX:
        return f"is {len(value)} characters long; at most {DNS_LABEL_MAX} are allowed"
    if value != value.lower():
        return "must be lowercase"
    if _DNS_LABEL.fullmatch(value) is None:
        return (
            "may contain only lowercase letters, digits and '-', "
            "and must start and end with a letter or digit"
        )
    return None


def dns_subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 subdomain (dot-separated labels, at most 253), or None."""
    if not value:
        return "must not be empty"
    if len(value) > DNS_SUBDOMAIN_MAX:
        return f"is {len(value)} characters long; at most {DNS_SUBDOMAIN_MAX} are allowed"
    for label in value.split("."):
        if not label:
            return "has an empty part between dots (or a dot at an end)"
        problem = dns_label_problem(label)
        if problem is not None:
            return f"has a part {label!r} that {problem}"
    return None


def _dns_label(value: str) -> str:
    problem = dns_label_problem(value)
    if problem is not None:
        raise invalid(
            "dns_label", f"{show(value)} is not a valid name: it {problem} (DNS-1123 label)"
        )
    return value


def _dns_subdomain(value: str) -> str:
    problem = dns_subdomain_problem(value)
    if problem is not None:
        raise invalid(
            "dns_subdomain", f"{show(value)} is not a valid name: it {problem} (DNS-1123 subdomain)"
        )
    return value


def _absolute_path(value: str) -> str:
    """An absolute, normalised POSIX path: it names a place on another machine (a node, an
    agent's pod), so it cannot be relative to wherever the model happens to be read."""
    if not value.startswith("/"):
        raise invalid(
            "absolute_path", f"{show(value)} is not an absolute path; it must start with '/'"
        )
    if "\x00" in value or ".." in value.split("/"):
        raise invalid("absolute_path", f"{show(value)} must not contain '..' or NUL")
    return "/" + posixpath.normpath(value).lstrip("/")


DnsLabel = Annotated[
    str,
    Check(_dns_label, {"pattern": DNS_LABEL_PATTERN, "minLength": 1, "maxLength": DNS_LABEL_MAX}),
]
"""A DNS-1123 label: names of clusters, policies, storage locations, namespaces."""

K8sName = Annotated[
    str,
    Check(
        _dns_subdomain,
        {"pattern": DNS_SUBDOMAIN_PATTERN, "minLength": 1, "maxLength": DNS_SUBDOMAIN_MAX},
    ),
]
"""A DNS-1123 subdomain: names of most Kubernetes objects (PVCs, PVs, storage classes)."""

AbsolutePath = Annotated[str, Check(_absolute_path, {"pattern": "^/"})]
"""An absolute POSIX path on the machine that uses it (a node or an agent)."""

DEFAULT_STORAGE_LOCATION = "default"
"""The storage location a request uses when it names none."""

MemoryLimitMiB = Annotated[int, Range(MIN_LIMIT_MIB, MAX_LIMIT_MIB, "MiB")]
"""The data mover's memory budget; it keeps its bytes in flight, and so its RSS, within it."""

BANDWIDTH_MIB_PER_SECOND_MAX = 100_000
BandwidthMiBPerSecond = Annotated[int, Range(1, BANDWIDTH_MIB_PER_SECOND_MAX, "MiB/s")]
"""A data mover's transfer rate limit."""

CONCURRENT_FILES_MAX = 1024
ConcurrentFiles = Annotated[int, Range(1, CONCURRENT_FILES_MAX, "files")]
"""Files copied at once across all volumes of a run."""

CONCURRENT_PVS_MAX = 256
ConcurrentPvs = Annotated[int, Range(1, CONCURRENT_PVS_MAX, "volumes")]
"""Volumes copied at once in a run."""

Count = Annotated[int, Field(ge=0)]
"""A non-negative count (files, bytes, objects)."""
