"""The cluster agent's backup-side activities: thin Temporal wrappers over the plain
functions of this package, one client per call.

Sync activities: the kubernetes client blocks, so the worker runs them in its thread pool.
An API answer that no retry can change (bad request, forbidden, not found, invalid)
becomes a non-retryable `ApplicationError`; everything else stays retryable.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from temporalio import activity

from activities.kube.api_errors import cluster_api
from activities.kube.export import export_resources
from activities.kube.exposure import expose_volume, release_volume, sweep_run
from activities.kube.inventory import take_inventory
from activities.kube.snapshots import (
    create_snapshots,
    delete_snapshots,
    preserve_snapshots,
    wait_snapshots,
)
from lifeboat.contracts.kube import (
    CreateSnapshotsInput,
    CreateSnapshotsOutput,
    DeleteSnapshotsInput,
    DiscoverInput,
    ExportResourcesInput,
    ExportResourcesOutput,
    ExposeVolumeInput,
    Inventory,
    PreserveSnapshotsInput,
    ReleaseVolumeInput,
    SweepRunInput,
    SweepRunOutput,
    VolumeExposure,
    WaitSnapshotsInput,
    WaitSnapshotsOutput,
)
from lifeboat.models import Cluster


class ClusterActivities:
    """Activities of the cluster agent for one cluster (queue ``lifeboat-cluster-<name>``)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def all(self) -> list[Callable[..., object]]:
        return [
            self.discover,
            self.create_snapshots,
            self.wait_snapshots,
            self.delete_snapshots,
            self.preserve_snapshots,
            self.expose_volume,
            self.release_volume,
            self.sweep_run,
            self.export_resources,
        ]

    @activity.defn(name="kube.discover")
    def discover(self, inp: DiscoverInput) -> Inventory:
        with cluster_api(self.cluster) as api:
            return take_inventory(api, inp.selection)

    @activity.defn(name="kube.create_snapshots")
    def create_snapshots(self, inp: CreateSnapshotsInput) -> CreateSnapshotsOutput:
        with cluster_api(self.cluster) as api:
            refs = create_snapshots(api, inp.run_id, inp.targets, inp.recovery_point)
        return CreateSnapshotsOutput(snapshots=refs)

    @activity.defn(name="kube.wait_snapshots")
    def wait_snapshots(self, inp: WaitSnapshotsInput) -> WaitSnapshotsOutput:
        with cluster_api(self.cluster) as api:
            return WaitSnapshotsOutput(
                states=wait_snapshots(api, inp.snapshots, inp.timeout_seconds)
            )

    @activity.defn(name="kube.delete_snapshots")
    def delete_snapshots(self, inp: DeleteSnapshotsInput) -> None:
        with cluster_api(self.cluster) as api:
            delete_snapshots(api, inp.snapshots, inp.timeout_seconds)

    @activity.defn(name="kube.preserve_snapshots")
    def preserve_snapshots(self, inp: PreserveSnapshotsInput) -> None:
        with cluster_api(self.cluster) as api:
            preserve_snapshots(api, inp.snapshots, inp.recovery_point, inp.expires_at)

    @activity.defn(name="kube.expose_volume")
    def expose_volume(self, inp: ExposeVolumeInput) -> VolumeExposure:
        with cluster_api(self.cluster) as api:
            return expose_volume(api, inp)

    @activity.defn(name="kube.release_volume")
    def release_volume(self, inp: ReleaseVolumeInput) -> None:
        with cluster_api(self.cluster) as api:
            release_volume(api, inp.created, inp.timeout_seconds)

    @activity.defn(name="kube.sweep_run")
    def sweep_run(self, inp: SweepRunInput) -> SweepRunOutput:
        with cluster_api(self.cluster) as api:
            return SweepRunOutput(deleted=sweep_run(api, inp.run_id, inp.timeout_seconds))

    @activity.defn(name="kube.export_resources")
    def export_resources(self, inp: ExportResourcesInput) -> ExportResourcesOutput:
        with cluster_api(self.cluster) as api:
            return export_resources(api, inp.selection, Path(inp.directory))
