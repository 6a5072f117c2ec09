"""`lifeboat dev ...` as a person runs it, against the session's real stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devstack.info import StackInfo


def lifeboat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lifeboat.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_status_json_has_every_endpoint(stack: StackInfo) -> None:
    done = lifeboat("dev", "status", "--json", "--home", str(stack.home))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"] is True
    info = report["info"]
    assert info["temporal"]["address"] == stack.temporal.address
    assert info["temporal"]["namespace"] == "default"
    assert info["temporal"]["ui_url"].startswith("http://127.0.0.1:")
    assert info["s3"]["endpoint"] == stack.s3.endpoint
    assert info["s3"]["bucket"] == "lifeboat"
    assert info["s3"]["access_key"] and info["s3"]["secret_key"]
    assert info["aws"]["endpoint"] == stack.aws.endpoint
    dev = info["clusters"]["dev"]
    assert Path(dev["kubeconfig"]).is_file()
    assert len(dev["nodes"]) >= 2
    for node in dev["nodes"]:
        assert Path(node["kubelet_pods_dir"]).is_dir()
    assert {s["name"] for s in report["services"] if s["healthy"]} >= {
        "temporal",
        "seaweedfs",
        "moto",
        "kube-dev",
    }


def test_status_text_names_ui_and_kubeconfig(stack: StackInfo) -> None:
    done = lifeboat("dev", "status", "--home", str(stack.home))
    assert done.returncode == 0, done.stderr
    assert stack.temporal.ui_url in done.stdout
    assert str(stack.clusters["dev"].kubeconfig) in done.stdout.replace("\n", "")


def test_up_again_reports_running_stack(stack: StackInfo) -> None:
    done = lifeboat("dev", "up", "--home", str(stack.home), "--cluster", "dev")
    assert done.returncode == 0, done.stderr
    assert "already running" in done.stderr


def test_status_of_an_empty_home_fails(tmp_path: Path) -> None:
    done = lifeboat("dev", "status", "--home", str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "lifeboat dev up" in done.stdout


def test_seed_rejects_unknown_cluster(stack: StackInfo) -> None:
    done = lifeboat("dev", "seed", "--home", str(stack.home), "--cluster", "prod")
    assert done.returncode != 0
    assert "'prod' is not running" in done.stderr
    assert "dev" in done.stderr
