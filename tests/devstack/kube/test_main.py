"""The process contract: `python -m devstack.kube` writes a kubeconfig, answers health
checks, stops cleanly on SIGTERM, and keeps its cluster across a restart."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from devstack.kube.layout import emulator_command, kubeconfig_path, kubelet_pods_dir

NODES = ["n-1", "n-2"]
_client_from_config: Callable[..., client.ApiClient] = config.new_client_from_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Emulator:
    """One emulator process over a state directory, started and stopped by the test."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = emulator_command("solo", self.state_dir, "127.0.0.1", self.port, NODES)
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:  # noqa: S310
                    if response.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the emulator did not become ready")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=10)
        self.process = None
        return code


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    instance = Emulator(tmp_path / "cluster")
    yield instance
    if instance.process is not None:
        instance.process.kill()
        instance.process.wait()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
        body: bytes = response.read()
        return body


def test_serves_health_version_and_kubeconfig(emulator: Emulator) -> None:
    emulator.start()
    assert _get(f"{emulator.url}/livez") == b"ok"
    assert json.loads(_get(f"{emulator.url}/version"))["gitVersion"] == "v1.30.0"
    kubeconfig = yaml.safe_load(kubeconfig_path(emulator.state_dir).read_text())
    assert kubeconfig["current-context"] == "solo"
    assert kubeconfig["clusters"][0] == {"name": "solo", "cluster": {"server": emulator.url}}
    assert kubeconfig["users"][0]["name"] == "solo" and kubeconfig["users"][0]["user"]["token"]
    assert all(kubelet_pods_dir(emulator.state_dir, n).is_dir() for n in NODES)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        _get(f"{emulator.url}/api/v1/namespaces")
    assert anonymous.value.code == 401
    assert emulator.stop() == 0


def test_restart_keeps_the_cluster(emulator: Emulator) -> None:
    emulator.start()
    kubeconfig = str(kubeconfig_path(emulator.state_dir))
    with _client_from_config(config_file=kubeconfig) as api:
        core: Any = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "kept"}})
        made = core.create_namespaced_config_map("kept", {"metadata": {"name": "c"}})
        core.create_namespaced_persistent_volume_claim(
            "kept",
            {
                "metadata": {"name": "d"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        core.create_namespaced_pod(
            "kept",
            {
                "metadata": {"name": "p"},
                "spec": {
                    "containers": [{"name": "c", "image": "busybox:1.36"}],
                    "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "d"}}],
                },
            },
        )
        pod = core.read_namespaced_pod("p", "kept")
        pv = core.read_namespaced_persistent_volume_claim("d", "kept").spec.volume_name
        pods_dir = kubelet_pods_dir(emulator.state_dir, pod.spec.node_name)
        [mount] = pods_dir.glob(f"{pod.metadata.uid}/volumes/*/{pv}/mount")
        (mount / "data.txt").write_text("survives")
    assert emulator.stop() == 0

    emulator.start()
    with _client_from_config(config_file=kubeconfig) as api:
        core = client.CoreV1Api(api)
        assert core.read_namespaced_config_map("c", "kept").metadata.uid == made.metadata.uid
        assert core.read_namespaced_pod("p", "kept").status.phase == "Running"
        assert (mount / "data.txt").read_text() == "survives"
        later = core.create_namespaced_config_map("kept", {"metadata": {"name": "later"}})
        assert int(later.metadata.resource_version) > int(made.metadata.resource_version)
    assert emulator.stop() == 0
