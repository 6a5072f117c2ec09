"""How workflows call each kind of activity: the queue, timeouts and retries in one place."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from lifeboat.queues import cluster_queue, node_queue
    from workflows import policies


async def on_control(name: str, arg: object, result_type: type, summary: str) -> Any:
    """Catalog, AWS and expiry activities on the control worker: the worker this workflow
    runs on (the control queue, or a test's own), which holds the repository's secrets."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        task_queue=workflow.info().task_queue,
        start_to_close_timeout=policies.KUBE_TIMEOUT,
        retry_policy=policies.CATALOG_RETRY,
        summary=summary,
    )


async def on_cluster(cluster: str, name: str, arg: object, result_type: type, summary: str) -> Any:
    """Kubernetes API activities on the cluster's agent."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        task_queue=cluster_queue(cluster),
        start_to_close_timeout=policies.KUBE_TIMEOUT,
        retry_policy=policies.KUBE_RETRY,
        summary=summary,
    )


async def on_node(
    cluster: str, node: str, name: str, arg: object, result_type: type, summary: str
) -> Any:
    """Volume data activities on the agent of the node that has the volume mounted; they
    heartbeat, so a dead agent is noticed and the retry resumes from the last checkpoint."""
    return await workflow.execute_activity(
        name,
        arg,
        result_type=result_type,
        task_queue=node_queue(cluster, node),
        start_to_close_timeout=policies.COPY_TIMEOUT,
        heartbeat_timeout=policies.COPY_HEARTBEAT,
        retry_policy=policies.COPY_RETRY,
        # A cancelled run waits for the copy to stop, so it ends with the repository unlocked.
        cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        summary=summary,
    )
