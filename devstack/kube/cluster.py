"""One emulated cluster: its store, API operations, controllers, faults and files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import structlog

from . import layout
from .apiserver import ApiServer
from .bootstrap import bootstrap
from .controllers import Reconciler
from .faults import FaultSet
from .store import ObjectStore, load_store, save_store

log = structlog.get_logger(__name__)


class Cluster:
    def __init__(self, name: str, state_dir: Path, nodes: Sequence[str]) -> None:
        self.name = name
        self.state_dir = state_dir
        self.nodes = tuple(nodes)
        self.store = ObjectStore()
        self.api = ApiServer(self.store)
        self.faults = FaultSet()
        self.reconciler = Reconciler(self)
        self._saved_revision = -1

    def kubelet_pods_dir(self, node: str) -> Path:
        return layout.kubelet_pods_dir(self.state_dir, node)

    def volume_dir(self, pv_name: str) -> Path:
        return layout.volume_data_dir(self.state_dir, pv_name)

    def snapshot_dir(self, handle: str) -> Path:
        return layout.snapshot_data_dir(self.state_dir, handle)

    def start(self) -> None:
        """Load the persisted store (if any), add what a fresh cluster has, reconcile."""
        data = load_store(layout.store_path(self.state_dir))
        if data is not None:
            self.store.load(data)
            self._saved_revision = self.store.revision
            log.info("kube.store_loaded", cluster=self.name, revision=self.store.revision)
        for node in self.nodes:
            self.kubelet_pods_dir(node).mkdir(parents=True, exist_ok=True)
        bootstrap(self.api, self.nodes)
        self.reconciler.settle()
        self.save()

    def set_faults(self, faults: FaultSet) -> None:
        self.faults = faults
        self.reconciler.settle()

    @property
    def dirty(self) -> bool:
        return self.store.revision != self._saved_revision

    def save(self) -> None:
        if self.dirty:
            revision = self.store.revision
            save_store(self.store.dump(), layout.store_path(self.state_dir))
            self._saved_revision = revision
