"""Namespaces: their default contents, and emptying them when they are deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..apiserver import NAMESPACES
from ..kinds import builtin

if TYPE_CHECKING:
    from ..cluster import Cluster

SERVICE_ACCOUNTS = builtin("", "ServiceAccount")
CONFIG_MAPS = builtin("", "ConfigMap")
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
FAKE_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAjMSEwHwYDVQQDDBhsaWZlYm9hdC1k\n"
    "ZXYtZW11bGF0b3ItY2EwHhcNMjQwMTAxMDAwMDAwWhcNMzQwMTAxMDAwMDAwWjAjMSEw\n"
    "-----END CERTIFICATE-----\n"
)


def reconcile_namespaces(cluster: Cluster) -> None:
    api = cluster.api
    for ns in list(api.scan(NAMESPACES)):
        name = ns["metadata"]["name"]
        if ns["metadata"].get("deletionTimestamp"):
            _finalize(cluster, name)
            continue
        if api.find(SERVICE_ACCOUNTS, name, "default") is None:
            api.create(SERVICE_ACCOUNTS, name, {"metadata": {"name": "default"}})
        if api.find(CONFIG_MAPS, name, ROOT_CA_CONFIGMAP) is None:
            api.create(
                CONFIG_MAPS,
                name,
                {"metadata": {"name": ROOT_CA_CONFIGMAP}, "data": {"ca.crt": FAKE_CA}},
            )


def _finalize(cluster: Cluster, namespace: str) -> None:
    """Delete everything in the namespace; drop the namespace once nothing is left."""
    remaining = False
    seen = set()
    for kind in cluster.api.registry():
        if not kind.namespaced or kind.storage_key in seen:
            continue
        seen.add(kind.storage_key)
        for obj in list(cluster.api.scan(kind, namespace)):
            remaining = True
            if not obj["metadata"].get("deletionTimestamp"):
                cluster.api.delete_quietly(kind, namespace, obj["metadata"]["name"])
    if not remaining:
        cluster.store.remove(NAMESPACES.storage_key, "", namespace)
