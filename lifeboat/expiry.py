"""Start the expiry of a recovery point: once, when it is recorded, or now, by hand."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from lifeboat.contracts.expiry import EXPIRE_NOW_SIGNAL, ExpireRecoveryPointInput
from lifeboat.models import RecoveryPoint
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.search_attributes import CLUSTER, JOB, RECOVERY_POINT

EXPIRY_WORKFLOW = "ExpireRecoveryPoint"


def expiry_workflow_id(recovery_point: str) -> str:
    return f"expire-{recovery_point}"


def expiry_input(point: RecoveryPoint, expire_now: bool) -> dict[str, object]:
    return ExpireRecoveryPointInput(
        recovery_point=point, storage_location=point.storage_location, expire_now=expire_now
    ).model_dump(mode="json")


def expiry_search_attributes(point: RecoveryPoint) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(JOB, "expire"),
            SearchAttributePair(CLUSTER, point.cluster),
            SearchAttributePair(RECOVERY_POINT, point.id),
        ]
    )


async def start_expiry(client: Client, point: RecoveryPoint) -> WorkflowHandle[object, object]:
    """The one expiry run of a recovery point; starting it again (a retried backup step,
    even after the expiry finished) is a no-op that returns the existing run."""
    workflow_id = expiry_workflow_id(point.id)
    try:
        return await client.start_workflow(
            EXPIRY_WORKFLOW,
            expiry_input(point, expire_now=False),
            id=workflow_id,
            task_queue=CONTROL_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=expiry_search_attributes(point),
            static_summary=f"Expiry of {point.id}",
        )
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id)


async def expire_now(client: Client, point: RecoveryPoint) -> WorkflowHandle[object, object]:
    """Expire a recovery point now: a scheduled expiry that is waiting is told to stop
    waiting (signal-with-start); otherwise a run starts that does not wait. Expiring one
    already expired does nothing harmful, so a closed run of the same id may be repeated."""
    return await client.start_workflow(
        EXPIRY_WORKFLOW,
        expiry_input(point, expire_now=True),
        id=expiry_workflow_id(point.id),
        task_queue=CONTROL_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=EXPIRE_NOW_SIGNAL,
        search_attributes=expiry_search_attributes(point),
        static_summary=f"Expiry of {point.id}, by hand",
    )
