"""Which Kubernetes objects a backup or restore covers."""

from __future__ import annotations

import re
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, model_validator

from lifeboat.models.base import LifeboatModel
from lifeboat.models.common import DNS_LABEL_MAX, dns_label_problem, dns_subdomain_problem
from lifeboat.models.constraints import Check
from lifeboat.models.errors import FieldErrors, invalid, show
from lifeboat.models.labels import LabelSelectorText

NAMESPACE_PATTERN_PATTERN = r"^([a-z0-9*?-]|\[!?[a-z0-9-]+\])+$"
_NAMESPACE_GLOB = re.compile(NAMESPACE_PATTERN_PATTERN)
_GLOB_CHARS = re.compile(r"[*?\[]")
RESOURCE_TYPE_PATTERN = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$"
ALL = "*"


def _namespace_pattern(pattern: str) -> str:
    if _GLOB_CHARS.search(pattern) is None:
        problem = dns_label_problem(pattern)
        if problem is not None:
            raise invalid(
                "namespace_pattern",
                f"{show(pattern)} is not a namespace name: it {problem} (DNS-1123 label)",
            )
        return pattern
    if len(pattern) > 4 * DNS_LABEL_MAX or _NAMESPACE_GLOB.fullmatch(pattern) is None:
        raise invalid(
            "namespace_pattern",
            f"{show(pattern)} is not a namespace glob: use lowercase letters, digits and '-' "
            "with the wildcards '*', '?' and '[...]' (e.g. 'team-*', 'app-?', 'db-[ab]')",
        )
    return pattern


def _resource_type(value: str) -> str:
    if value == ALL:
        return value
    if value != value.lower():
        raise invalid(
            "resource_type",
            f"{show(value)} is not a resource type: use the lowercase plural resource name "
            f"(e.g. {value.lower().split('.')[0] + 's'!r}, not {value!r})",
        )
    resource, _, group = value.partition(".")
    problem = dns_label_problem(resource) or (dns_subdomain_problem(group) if group else None)
    if problem is not None:
        raise invalid(
            "resource_type",
            f"{show(value)} is not a resource type: it {problem}; allowed forms: '<resource>', "
            "'<resource>.<group>' (e.g. 'deployments', 'deployments.apps', "
            "'volumesnapshots.snapshot.storage.k8s.io') or '*'",
        )
    return value


NamespacePattern = Annotated[
    str, Check(_namespace_pattern, {"pattern": NAMESPACE_PATTERN_PATTERN, "examples": ["team-*"]})
]
"""A namespace name or a glob of names (``*``, ``?``, ``[...]``)."""

ResourceType = Annotated[
    str,
    Check(
        _resource_type,
        {"pattern": RESOURCE_TYPE_PATTERN, "examples": ["deployments", "deployments.apps"]},
    ),
]
"""A resource type: plural resource name, optionally with its API group; ``*`` for all."""


class ClusterScoped(StrEnum):
    """Which cluster-scoped objects come along with a namespaced selection."""

    ON = "on"
    """All cluster-scoped objects of the included resource types."""
    OFF = "off"
    """None."""
    AUTO = "auto"
    """Those the selected namespaced objects refer to: the namespaces themselves, the PVs
    of their PVCs, storage classes, CRDs of included custom resources, cluster roles bound
    in them."""


def _yaml_switch(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads unquoted ``on``/``off`` as booleans; take them as meant."""
    if isinstance(value, bool):
        return ClusterScoped.ON if value else ClusterScoped.OFF
    return value


class ResourceSelection(LifeboatModel):
    """Namespaces (names or globs), a label selector and resource types; an object is
    selected when every part selects it. Exclusions win over inclusions."""

    include_namespaces: list[NamespacePattern] = [ALL]
    """Namespaces to include; names or globs. An empty list selects no namespaced objects."""

    exclude_namespaces: list[NamespacePattern] = []
    """Namespaces to leave out; names or globs."""

    label_selector: LabelSelectorText | None = None
    """Only objects whose labels match, e.g. ``app=web,tier in (db,cache),!legacy``."""

    include_resource_types: list[ResourceType] = [ALL]
    """Resource types to include, e.g. ``deployments``, ``deployments.apps``; ``*`` for all.
    A type without a group matches it in every group."""

    exclude_resource_types: list[ResourceType] = []
    """Resource types to leave out, in the same forms."""

    cluster_scoped: Annotated[ClusterScoped, BeforeValidator(_yaml_switch)] = ClusterScoped.AUTO
    """Cluster-scoped objects: ``on`` all, ``off`` none, ``auto`` those the namespaced
    selection refers to (PVs, storage classes, CRDs of included custom resources)."""

    @model_validator(mode="after")
    def _not_both_included_and_excluded(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        for kind, included, excluded in (
            ("namespaces", self.include_namespaces, self.exclude_namespaces),
            ("resource_types", self.include_resource_types, self.exclude_resource_types),
        ):
            for index, entry in enumerate(excluded):
                if entry in included:
                    errors.add(
                        (f"exclude_{kind}", index),
                        "selection_conflict",
                        f"{show(entry)} is both in include_{kind} and exclude_{kind}; "
                        "keep it in one of them",
                        entry,
                    )
        errors.raise_if_any()
        return self

    def includes_namespace(self, namespace: str) -> bool:
        return _any_match(namespace, self.include_namespaces) and not _any_match(
            namespace, self.exclude_namespaces
        )

    def includes_resource_type(self, resource: str, group: str) -> bool:
        """``resource`` is the plural name; ``group`` is '' for the core group."""
        return _any_type(resource, group, self.include_resource_types) and not _any_type(
            resource, group, self.exclude_resource_types
        )


def _any_match(name: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def _any_type(resource: str, group: str, entries: list[str]) -> bool:
    for entry in entries:
        entry_resource, dot, entry_group = entry.partition(".")
        if entry == ALL or (entry_resource == resource and (not dot or entry_group == group)):
            return True
    return False
