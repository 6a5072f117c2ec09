"""CatalogQuery: read the catalog on the control worker, for clients without secrets.

Clients (the CLI, other services) hold no repository password; this tiny workflow runs
the catalog activity on the control worker, which does, and returns its result.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.catalog import GetRecoveryPointInput, ListRecoveryPointsInput
    from lifeboat.queues import CONTROL_QUEUE
    from workflows import policies
    from workflows.inputs import parse_input

_READS: dict[str, type[BaseModel]] = {
    "catalog.list": ListRecoveryPointsInput,
    "catalog.get": GetRecoveryPointInput,
}


@workflow.defn(name="CatalogQuery")
class CatalogQueryWorkflow:
    @workflow.run
    async def run(self, query: dict[str, Any]) -> Any:
        name = query.get("activity")
        if name not in _READS:
            raise ApplicationError(
                f"activity: {name!r} is not a catalog read; allowed: {', '.join(_READS)}",
                type="InvalidRequest",
                non_retryable=True,
            )
        arg: BaseModel = parse_input(_READS[name], query.get("input", {}))
        return await workflow.execute_activity(
            name,
            arg,
            task_queue=CONTROL_QUEUE,
            start_to_close_timeout=policies.KUBE_TIMEOUT,
            retry_policy=policies.CATALOG_RETRY,
        )
