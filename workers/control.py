"""The control worker (queue `lifeboat`): every workflow, plus catalog and AWS activities."""

from __future__ import annotations

from activities.aws.activities import AwsActivities
from activities.catalog import CatalogActivities
from activities.expiry import ExpiryActivities
from lifeboat.config import LifeboatConfig
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.temporal import connect
from workers.runtime import run_worker
from workflows import WORKFLOWS


async def run_control_worker(config: LifeboatConfig) -> None:
    client = await connect(config.temporal)
    await run_worker(
        client,
        task_queue=CONTROL_QUEUE,
        workflows=WORKFLOWS,
        activities=[
            *CatalogActivities(config).all(),
            *AwsActivities(config).all(),
            *ExpiryActivities(config).all(),
        ],
    )
