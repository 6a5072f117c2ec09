"""The emulated Kubernetes cluster(s): one API server process per cluster."""

from __future__ import annotations

from pathlib import Path

from devstack.info import ClusterInfo, NodeInfo
from devstack.kube.layout import emulator_command, kubeconfig_path, kubelet_pods_dir
from devstack.ports import HOST
from devstack.readiness import http_ok


def node_names(cluster: str, count: int = 2) -> tuple[str, ...]:
    return tuple(f"{cluster}-node-{i}" for i in range(1, count + 1))


def command(name: str, state_dir: Path, port: int, nodes: tuple[str, ...]) -> list[str]:
    return emulator_command(name, state_dir, HOST, port, list(nodes))


def info(name: str, state_dir: Path, port: int, nodes: tuple[str, ...]) -> ClusterInfo:
    return ClusterInfo(
        name=name,
        api_url=f"http://{HOST}:{port}",
        kubeconfig=kubeconfig_path(state_dir),
        state_dir=state_dir,
        nodes=tuple(
            NodeInfo(name=n, kubelet_pods_dir=kubelet_pods_dir(state_dir, n)) for n in nodes
        ),
    )


def healthy(cluster: ClusterInfo) -> bool:
    return http_ok(f"{cluster.api_url}/readyz") and cluster.kubeconfig.exists()
