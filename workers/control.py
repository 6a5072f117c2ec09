"""The control worker (queue `lifeboat`): every workflow, plus catalog and AWS activities."""

from __future__ import annotations

import structlog
from temporalio.service import RPCError

from activities.aws.activities import AwsActivities
from activities.catalog import CatalogActivities
from activities.expiry import ExpiryActivities
from activities.maintenance import MaintenanceActivities
from lifeboat.client import LifeboatClient
from lifeboat.config import LifeboatConfig
from lifeboat.maintenance import MaintenanceService
from lifeboat.queues import CONTROL_QUEUE
from lifeboat.temporal import connect
from workers.runtime import run_worker
from workflows import WORKFLOWS

log = structlog.get_logger(__name__)


async def run_control_worker(config: LifeboatConfig) -> None:
    client = await connect(config.temporal)
    await _apply_maintenance_schedules(LifeboatClient(client, config))
    await run_worker(
        client,
        task_queue=CONTROL_QUEUE,
        workflows=WORKFLOWS,
        activities=[
            *CatalogActivities(config).all(),
            *AwsActivities(config).all(),
            *ExpiryActivities(config).all(),
            *MaintenanceActivities(config).all(),
        ],
    )


async def _apply_maintenance_schedules(client: LifeboatClient) -> None:
    """Every storage location is maintained on the schedule its configuration gives. A
    failure here is logged, not fatal: backups must not wait for maintenance."""
    try:
        await MaintenanceService(client).apply_schedules()
    except RPCError as exc:
        log.error("maintenance schedules not applied", error=str(exc))
