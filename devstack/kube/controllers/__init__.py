"""The controllers a real cluster runs, reduced to what a backup tool observes.

Each is a level-triggered function over the whole store. `Reconciler.settle` runs them
until nothing changes, after every API write and on a short tick, so a client that reads
back after a write already sees e.g. a bound PVC or a running pod (a real cluster gets
there a few seconds later; clients poll either way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from .garbage import reconcile_custom_resources, reconcile_garbage
from .namespaces import reconcile_namespaces
from .pods import reconcile_pods
from .snapshots import reconcile_snapshots
from .storage import reconcile_storage
from .workloads import reconcile_workloads

if TYPE_CHECKING:
    from ..cluster import Cluster

log = structlog.get_logger(__name__)

Controller = Callable[["Cluster"], None]

CONTROLLERS: tuple[Controller, ...] = (
    reconcile_custom_resources,
    reconcile_namespaces,
    reconcile_garbage,
    reconcile_workloads,
    reconcile_storage,
    reconcile_snapshots,
    reconcile_pods,
)
MAX_PASSES = 30


class Reconciler:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster

    def settle(self) -> None:
        """Run every controller until a pass changes nothing (bounded, never raises)."""
        store = self._cluster.store
        for _ in range(MAX_PASSES):
            before = store.revision
            for controller in CONTROLLERS:
                try:
                    controller(self._cluster)
                except Exception:
                    log.exception("kube.controller_failed", controller=controller.__name__)
            if store.revision == before:
                return
        log.warning("kube.reconcile_not_settled", passes=MAX_PASSES)
