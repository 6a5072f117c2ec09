"""A workflow that imports the models the plain way, not marked pass-through."""

from temporalio import workflow

from lifeboat.models import BackupPolicy, BackupRequest


@workflow.defn
class PolicyToRequest:
    @workflow.run
    async def run(self, policy: BackupPolicy) -> BackupRequest:
        return policy.to_request()
