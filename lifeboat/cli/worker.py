"""`lifeboat worker control|cluster|node`: run one of Lifeboat's worker processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lifeboat.cli.options import config_option
from lifeboat.config import ConfigError, LifeboatConfig, load_config


def _load(config_path: Path | None) -> LifeboatConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _known_cluster(config: LifeboatConfig, name: str) -> None:
    if name not in config.clusters:
        known = ", ".join(sorted(config.clusters)) or "none configured"
        raise click.BadParameter(
            f"unknown cluster {name!r}; configured: {known}", param_hint="--cluster"
        )


@click.group()
def worker() -> None:
    """Run a worker: the control worker, a cluster agent or a node agent."""


@worker.command()
@config_option
def control(config_path: Path | None) -> None:
    """Workflows, catalog and AWS activities (queue `lifeboat`)."""
    from workers.control import run_control_worker

    asyncio.run(run_control_worker(_load(config_path)))


@worker.command()
@config_option
@click.option("--cluster", envvar="LIFEBOAT_CLUSTER", required=True, help="Cluster to serve.")
def cluster(config_path: Path | None, cluster: str) -> None:
    """Kubernetes API activities of one cluster (queue `lifeboat-cluster-<cluster>`)."""
    from workers.cluster_agent import run_cluster_agent

    config = _load(config_path)
    _known_cluster(config, cluster)
    asyncio.run(run_cluster_agent(config, cluster))


@worker.command()
@config_option
@click.option("--cluster", envvar="LIFEBOAT_CLUSTER", required=True, help="Cluster of the node.")
@click.option("--node", envvar="LIFEBOAT_NODE", required=True, help="This node's name.")
@click.option(
    "--kubelet-pods-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LIFEBOAT_KUBELET_PODS_DIR",
    default=None,
    help="The kubelet pods dir as this agent sees it (default: the cluster's setting).",
)
def node(config_path: Path | None, cluster: str, node: str, kubelet_pods_dir: Path | None) -> None:
    """Volume data on one node (queue `lifeboat-node-<cluster>-<node>`)."""
    from workers.node_agent import run_node_agent

    config = _load(config_path)
    _known_cluster(config, cluster)
    pods_dir = kubelet_pods_dir or Path(config.clusters[cluster].kubelet_pods_dir)
    asyncio.run(run_node_agent(config, cluster, node, pods_dir))
