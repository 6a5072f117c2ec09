"""Replications as Temporal Schedules: one schedule per replication, id
``replication-<name>``, whose runs are Migration workflows that keep the target in step."""

from __future__ import annotations

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from lifeboat.client import LifeboatClient
from lifeboat.contracts.migration import MigrationRequest, ReplicationPolicy
from lifeboat.models.schedule import Schedule
from lifeboat.schedules import ScheduledKind, ScheduleService
from lifeboat.search_attributes import CLUSTER, JOB, POLICY


class Replications(ScheduledKind[ReplicationPolicy]):
    noun = "replication"
    prefix = "replication-"
    workflow_type = "Migration"
    memo_key = "lifeboat-replication"
    model = ReplicationPolicy

    def name(self, job: ReplicationPolicy) -> str:
        return job.name

    def schedule(self, job: ReplicationPolicy) -> Schedule:
        return job.schedule

    def cluster(self, job: ReplicationPolicy) -> str:
        return job.source_cluster

    def request(self, job: ReplicationPolicy) -> MigrationRequest:
        return job.to_request()

    def workflow_id_prefix(self, job: ReplicationPolicy) -> str:
        """Runs read ``replicate-<name>-<scheduled time>``."""
        return f"replicate-{job.name}"

    def run_attributes(self, job: ReplicationPolicy) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(CLUSTER, job.source_cluster),
                SearchAttributePair(JOB, "replication"),
                SearchAttributePair(POLICY, job.name),
            ]
        )

    def summary(self, job: ReplicationPolicy) -> str:
        return f"Replication {job.name}: {job.source_cluster} to {job.target_cluster}"

    def known_names(self, job: ReplicationPolicy) -> tuple[list[str], str]:
        # A new EKS target is configured in Lifeboat only once it exists.
        clusters = [job.source_cluster]
        if job.new_eks_cluster is None:
            clusters.append(job.target_cluster)
        return clusters, job.storage_location


REPLICATIONS = Replications()


class ReplicationService(ScheduleService[ReplicationPolicy]):
    """Create, change, run and list replications."""

    def __init__(self, client: LifeboatClient):
        super().__init__(client, REPLICATIONS)
