"""Task queue names: where each kind of work runs (DESIGN.md, "Task queues and workers")."""

from __future__ import annotations

CONTROL_QUEUE = "lifeboat"


def cluster_queue(cluster: str) -> str:
    """The cluster agent's queue: Kubernetes API work for `cluster`."""
    return f"lifeboat-cluster-{cluster}"


def node_queue(cluster: str, node: str) -> str:
    """The node agent's queue: volume data on `node` of `cluster`."""
    return f"lifeboat-node-{cluster}-{node}"
