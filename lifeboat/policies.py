"""Backup policies as Temporal Schedules: one schedule per policy, id ``policy-<name>``,
whose runs are Backup workflows carrying the policy's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from lifeboat.client import LifeboatClient, Run
from lifeboat.contracts.progress import RunProgress
from lifeboat.models import BackupPolicy, BackupRequest, RecoveryPoint
from lifeboat.models.schedule import Schedule
from lifeboat.schedules import (
    ScheduledJobNotFoundError,
    ScheduledKind,
    ScheduleService,
)
from lifeboat.search_attributes import CLUSTER, JOB, POLICY

PolicyNotFoundError = ScheduledJobNotFoundError


class BackupPolicies(ScheduledKind[BackupPolicy]):
    noun = "policy"
    prefix = "policy-"
    workflow_type = "Backup"
    memo_key = "lifeboat-policy"
    model = BackupPolicy

    def name(self, job: BackupPolicy) -> str:
        return job.name

    def schedule(self, job: BackupPolicy) -> Schedule:
        return job.schedule

    def cluster(self, job: BackupPolicy) -> str:
        return job.cluster

    def request(self, job: BackupPolicy) -> BackupRequest:
        return job.to_request()

    def workflow_id_prefix(self, job: BackupPolicy) -> str:
        """Runs read ``backup-<cluster>-policy-<name>-<scheduled time>``."""
        return f"backup-{job.cluster}-policy-{job.name}"

    def run_attributes(self, job: BackupPolicy) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(CLUSTER, job.cluster),
                SearchAttributePair(JOB, "backup"),
                SearchAttributePair(POLICY, job.name),
            ]
        )

    def summary(self, job: BackupPolicy) -> str:
        return f"Backup of cluster {job.cluster} by policy {job.name}"

    def known_names(self, job: BackupPolicy) -> tuple[list[str], str]:
        return [job.cluster], job.storage_location


BACKUP_POLICIES = BackupPolicies()


def schedule_id(name: str) -> str:
    return BACKUP_POLICIES.schedule_id(name)


class PolicyService(ScheduleService[BackupPolicy]):
    """Create, change, run and list backup policies."""

    def __init__(self, client: LifeboatClient):
        super().__init__(client, BACKUP_POLICIES)

    async def trigger(
        self, name: str, retention: timedelta | None = None
    ) -> Run[RecoveryPoint, RunProgress] | None:
        """Run the policy now. With the policy's retention the schedule starts the run (and
        its overlap policy applies); a retention given by hand needs its own request, so
        the run is started directly and returned."""
        if retention is None:
            await self.trigger_scheduled(name)
            return None
        from workflows.naming import utc_stamp

        policy = await self.get(name)
        request = policy.to_request(retention=retention)
        workflow_id = f"{self.kind.workflow_id_prefix(policy)}-{utc_stamp(datetime.now(UTC))}"
        return await self._client.start_backup(request, workflow_id=workflow_id)
