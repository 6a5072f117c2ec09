"""Garbage collection (dependents whose owners are gone) and CRD lifecycle."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from ..apiserver import CRDS
from ..kinds import KindInfo

if TYPE_CHECKING:
    from ..cluster import Cluster


def reconcile_custom_resources(cluster: Cluster) -> None:
    """Mark CRDs established; forget the objects of CRDs that were deleted."""
    api = cluster.api
    for crd in list(api.scan(CRDS)):
        spec = crd["spec"]
        names = spec["names"]
        accepted = {
            "kind": names["kind"],
            "listKind": names.get("listKind") or f"{names['kind']}List",
            "plural": names["plural"],
            "singular": names.get("singular") or names["kind"].lower(),
        }
        for optional in ("shortNames", "categories"):
            if names.get(optional):
                accepted[optional] = names[optional]
        old_status = crd.get("status") or {}
        stamp = {c["type"]: c.get("lastTransitionTime") for c in old_status.get("conditions", [])}
        transition = crd["metadata"]["creationTimestamp"]
        status = {
            "acceptedNames": accepted,
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
            "conditions": [
                {
                    "type": t,
                    "status": "True",
                    "reason": r,
                    "message": m,
                    "lastTransitionTime": stamp.get(t) or transition,
                }
                for t, r, m in (
                    ("NamesAccepted", "NoConflicts", "no conflicts found"),
                    ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                )
            ],
        }
        if crd.get("status") != status:
            api.write_status(CRDS, {**copy.deepcopy(crd), "status": status})
    served = api.registry().storage_keys()
    for key in cluster.store.keys():  # noqa: SIM118 - a method, not a dict
        if key not in served:
            cluster.store.drop(key)


def _kinds_by_storage(cluster: Cluster) -> dict[tuple[str, str], KindInfo]:
    return {k.storage_key: k for k in cluster.api.registry()}


def reconcile_garbage(cluster: Cluster) -> None:
    """Delete objects all of whose owners are gone (background propagation)."""
    uids = cluster.store.uids()
    kinds = _kinds_by_storage(cluster)
    for key in cluster.store.keys():  # noqa: SIM118 - a method, not a dict
        kind = kinds.get(key)
        if kind is None:
            continue
        for obj in list(cluster.store.scan(key)):
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if (
                refs
                and not meta.get("deletionTimestamp")
                and all(r.get("uid") not in uids for r in refs)
            ):
                cluster.api.delete_quietly(kind, meta.get("namespace", ""), meta["name"])
