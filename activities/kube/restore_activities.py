"""The cluster agent's restore activities: thin Temporal wrappers, one client per call.

Sync activities (the kubernetes client blocks; the worker runs them in its thread pool).
An API answer no retry can change becomes a non-retryable `ApplicationError`; objects the
API server rejects one by one are not errors here but failed entries of the result.
"""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity

from activities.kube.api_errors import cluster_api
from activities.kube.prune import prune_replicated
from activities.kube.restore_apply import (
    check_storage_classes,
    restore_resources,
)
from activities.kube.restore_volume import expose_restore_volume, release_restore_volume
from lifeboat.contracts.kube import VolumeExposure
from lifeboat.contracts.restore import (
    CheckStorageClassesInput,
    ExposeRestoreVolumeInput,
    PruneReplicatedInput,
    PruneResult,
    ReleaseRestoreVolumeInput,
    RestoreResourcesInput,
    RestoreResourcesResult,
)
from lifeboat.models import Cluster


class RestoreActivities:
    """Restore activities for one cluster (queue ``lifeboat-cluster-<name>``)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def all(self) -> list[Callable[..., object]]:
        return [
            self.check_storage_class_mapping,
            self.restore_resources,
            self.expose_restore_volume,
            self.release_restore_volume,
            self.prune_replicated,
        ]

    @activity.defn(name="kube.check_storage_class_mapping")
    def check_storage_class_mapping(self, inp: CheckStorageClassesInput) -> None:
        """Every mapping target exists in the cluster; run before anything is fetched."""
        with cluster_api(self.cluster) as api:
            needed = {
                target: ["storage_class_mapping"] for target in inp.storage_class_mapping.values()
            }
            check_storage_classes(api, needed)

    @activity.defn(name="kube.restore_resources")
    def restore_resources(self, inp: RestoreResourcesInput) -> RestoreResourcesResult:
        with cluster_api(self.cluster) as api:
            return restore_resources(api, inp)

    @activity.defn(name="kube.expose_restore_volume")
    def expose_restore_volume(self, inp: ExposeRestoreVolumeInput) -> VolumeExposure:
        with cluster_api(self.cluster) as api:
            return expose_restore_volume(api, inp)

    @activity.defn(name="kube.release_restore_volume")
    def release_restore_volume(self, inp: ReleaseRestoreVolumeInput) -> None:
        with cluster_api(self.cluster) as api:
            release_restore_volume(api, inp)

    @activity.defn(name="kube.prune_replicated")
    def prune_replicated(self, inp: PruneReplicatedInput) -> PruneResult:
        with cluster_api(self.cluster) as api:
            return prune_replicated(api, inp)
