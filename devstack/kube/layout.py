"""Where an emulated cluster keeps its files, and how to start one.

The devstack and the tests use these functions instead of spelling paths themselves:

    DIR/kubeconfig                          the client's kubeconfig (token user)
    DIR/store.json                          the object store (etcd's part)
    DIR/volumes/<pv-name>/                  a PersistentVolume's data (the "disk")
    DIR/snapshots/<snapshot-handle>/        a VolumeSnapshotContent's frozen copy
    DIR/nodes/<node>/kubelet/pods/          each node's kubelet pods directory
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def kubeconfig_path(state_dir: Path) -> Path:
    return state_dir / "kubeconfig"


def store_path(state_dir: Path) -> Path:
    return state_dir / "store.json"


def kubelet_pods_dir(state_dir: Path, node: str) -> Path:
    return state_dir / "nodes" / node / "kubelet" / "pods"


def volume_data_dir(state_dir: Path, pv_name: str) -> Path:
    return state_dir / "volumes" / pv_name


def snapshot_data_dir(state_dir: Path, snapshot_handle: str) -> Path:
    """Keyed by handle, not content name, so a pre-provisioned content finds its data."""
    return state_dir / "snapshots" / snapshot_handle


def api_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def emulator_command(
    name: str, state_dir: Path, host: str, port: int, nodes: Sequence[str]
) -> list[str]:
    """The command line that serves one emulated cluster until SIGTERM or SIGINT."""
    return [
        sys.executable,
        "-m",
        "devstack.kube",
        "--name",
        name,
        "--state-dir",
        str(state_dir),
        "--host",
        host,
        "--port",
        str(port),
        "--nodes",
        ",".join(nodes),
    ]
