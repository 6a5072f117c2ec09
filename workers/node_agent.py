"""The node agent (queue `lifeboat-node-<cluster>-<node>`): volume data on its node."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from activities.datamover.volumes import NodeActivities
from lifeboat.config import LifeboatConfig
from lifeboat.queues import node_queue
from lifeboat.temporal import connect
from workers.runtime import run_worker

COPIES_AT_ONCE = 4
"""Volume copies one node agent runs at once; each has its own memory limit."""

CHECKPOINT_EVERY = timedelta(seconds=2)
"""How often a copy's heartbeat (and so its checkpoint) reaches the server at the latest.
A retried copy resumes from the last one the server holds: with the SDK's default
throttle (80% of the heartbeat timeout) a killed agent would lose up to that much work."""


async def run_node_agent(
    config: LifeboatConfig, cluster_name: str, node: str, kubelet_pods_dir: Path
) -> None:
    client = await connect(config.temporal)
    await run_worker(
        client,
        task_queue=node_queue(cluster_name, node),
        activities=NodeActivities(node, kubelet_pods_dir).all(),
        max_concurrent_activities=COPIES_AT_ONCE,
        heartbeat_throttle=CHECKPOINT_EVERY,
    )
