"""The control worker's part of expiry: forget a recovery point's repository snapshots and
see whether a restore still reads it.

Both need what only the control worker holds: the repository's secrets and a Temporal
client for visibility queries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.repository import open_repository
from activities.tags import LIFEBOAT, recovery_point_tag
from datamover.prune import forget
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.expiry import (
    ForgetRecoveryPointInput,
    ForgetRecoveryPointOutput,
    RestoresInProgressInput,
)
from lifeboat.search_attributes import RECOVERY_POINT
from lifeboat.temporal import connect

RESTORE_WORKFLOW = "Restore"


def running_restores_query(recovery_point: str) -> str:
    return (
        f'WorkflowType = "{RESTORE_WORKFLOW}" AND ExecutionStatus = "Running" '
        f'AND {RECOVERY_POINT.name} = "{recovery_point}"'
    )


class ExpiryActivities:
    def __init__(self, config: LifeboatConfig) -> None:
        self.config = config
        self._client: Client | None = None
        self._connecting = asyncio.Lock()

    def all(self) -> list[Callable[..., object]]:
        return [self.forget_recovery_point, self.restores_in_progress]

    @activity.defn(name="expiry.forget_recovery_point")
    def forget_recovery_point(self, inp: ForgetRecoveryPointInput) -> ForgetRecoveryPointOutput:
        """Every snapshot tagged with the recovery point, whatever its kind, the catalog
        records included; nothing of another recovery point carries its tag. Data stays
        until the repository's garbage collection."""
        try:
            location = self.config.storage_location(inp.storage_location)
        except KeyError as exc:
            raise ApplicationError(
                str(exc.args[0]), type="InvalidRequest", non_retryable=True
            ) from None
        with open_repository(location) as repo:
            result = forget(repo, tags=[LIFEBOAT, recovery_point_tag(inp.recovery_point)])
        return ForgetRecoveryPointOutput(removed=result.removed)

    @activity.defn(name="expiry.restores_in_progress")
    async def restores_in_progress(self, inp: RestoresInProgressInput) -> int:
        """Running restores of the recovery point, from Temporal's visibility store."""
        client = await self._temporal()
        count = await client.count_workflows(running_restores_query(inp.recovery_point))
        return count.count

    async def _temporal(self) -> Client:
        async with self._connecting:
            if self._client is None:
                self._client = await connect(self.config.temporal)
            return self._client
