"""Run a Temporal worker until SIGTERM/SIGINT, then shut down gracefully.

On a signal the worker stops polling and gives running activities `graceful_shutdown`
to finish or heartbeat their last checkpoint; a copy cut short is retried on another
attempt from that checkpoint.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

log = structlog.get_logger(__name__)


async def run_worker(
    client: Client,
    *,
    task_queue: str,
    workflows: Sequence[type] = (),
    activities: Sequence[Callable[..., Any]] = (),
    max_concurrent_activities: int = 16,
    graceful_shutdown: timedelta = timedelta(seconds=20),
    heartbeat_throttle: timedelta = timedelta(seconds=30),
) -> None:
    """`heartbeat_throttle` caps how long the SDK holds back heartbeats (it sends at most
    one per 80% of an activity's heartbeat timeout otherwise)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=max_concurrent_activities) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=list(workflows),
            activities=list(activities),
            activity_executor=executor if activities else None,
            max_concurrent_activities=max_concurrent_activities,
            graceful_shutdown_timeout=graceful_shutdown,
            max_heartbeat_throttle_interval=heartbeat_throttle,
            default_heartbeat_throttle_interval=heartbeat_throttle,
        )
        log.info("worker.started", task_queue=task_queue)
        async with worker:
            await stop.wait()
            log.info("worker.stopping", task_queue=task_queue)
    log.info("worker.stopped", task_queue=task_queue)
