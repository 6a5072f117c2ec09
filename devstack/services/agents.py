"""Lifeboat's own workers, run as a real installation runs them: a control worker, one
cluster agent per emulated cluster and one node agent per emulated node, the node agent
seeing only its node's kubelet pods directory."""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.info import AwsInfo, ClusterInfo, NodeInfo

_LIFEBOAT = [sys.executable, "-m", "lifeboat.cli", "--log-level", "info", "--log-format", "json"]


def environment(config_file: Path, aws: AwsInfo) -> dict[str, str]:
    """The config file, and moto's test credentials as the AWS chain of the control worker."""
    return {
        "LIFEBOAT_CONFIG": str(config_file),
        "AWS_ACCESS_KEY_ID": aws.access_key,
        "AWS_SECRET_ACCESS_KEY": aws.secret_key,
        "AWS_DEFAULT_REGION": aws.region,
    }


def control_command() -> list[str]:
    return [*_LIFEBOAT, "worker", "control"]


def cluster_agent_command(cluster: ClusterInfo) -> list[str]:
    return [*_LIFEBOAT, "worker", "cluster", "--cluster", cluster.name]


def node_agent_command(cluster: ClusterInfo, node: NodeInfo) -> list[str]:
    return [
        *_LIFEBOAT,
        "worker",
        "node",
        "--cluster",
        cluster.name,
        "--node",
        node.name,
        "--kubelet-pods-dir",
        str(node.kubelet_pods_dir),
    ]
