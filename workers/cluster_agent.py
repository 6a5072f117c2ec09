"""The cluster agent (queue `lifeboat-cluster-<cluster>`): Kubernetes API activities."""

from __future__ import annotations

from activities.kube.activities import ClusterActivities
from activities.kube.restore_activities import RestoreActivities
from activities.resources import ResourceActivities
from lifeboat.config import LifeboatConfig
from lifeboat.queues import cluster_queue
from lifeboat.temporal import connect
from workers.runtime import run_worker


async def run_cluster_agent(config: LifeboatConfig, cluster_name: str) -> None:
    cluster = config.cluster(cluster_name)
    client = await connect(config.temporal)
    activities = [
        *ClusterActivities(cluster).all(),
        *RestoreActivities(cluster).all(),
        *ResourceActivities(cluster).all(),
    ]
    await run_worker(client, task_queue=cluster_queue(cluster.name), activities=activities)
