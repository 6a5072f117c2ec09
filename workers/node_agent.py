"""The node agent (queue `lifeboat-node-<cluster>-<node>`): volume data on its node."""

from __future__ import annotations

from pathlib import Path

from activities.datamover.volumes import NodeActivities
from lifeboat.config import LifeboatConfig
from lifeboat.queues import node_queue
from lifeboat.temporal import connect
from workers.runtime import run_worker

COPIES_AT_ONCE = 4
"""Volume copies one node agent runs at once; each has its own memory limit."""


async def run_node_agent(
    config: LifeboatConfig, cluster_name: str, node: str, kubelet_pods_dir: Path
) -> None:
    client = await connect(config.temporal)
    await run_worker(
        client,
        task_queue=node_queue(cluster_name, node),
        activities=NodeActivities(node, kubelet_pods_dir).all(),
        max_concurrent_activities=COPIES_AT_ONCE,
    )
