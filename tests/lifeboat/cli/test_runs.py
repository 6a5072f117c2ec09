"""`lifeboat backup|restore run` refuse bad requests before starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack.info import StackInfo


def lifeboat(
    stack: StackInfo, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lifeboat.cli", *args, "--config", str(stack.home / "config.yaml")],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_unknown_cluster_names_the_configured_ones(stack: StackInfo) -> None:
    done = lifeboat(stack, "backup", "run", "--cluster", "nope")
    assert done.returncode != 0
    assert "cluster: unknown cluster 'nope'; configured: dev, dev2" in done.stderr
    assert "Started" not in done.stderr


def test_invalid_option_names_field_value_and_range(stack: StackInfo) -> None:
    request = "cluster: dev\noptions: {datamover_memory_limit_mib: 100}\n"
    done = lifeboat(stack, "backup", "run", "--request", "-", stdin=request)
    assert done.returncode != 0
    assert "options.datamover_memory_limit_mib: 100 is out of range" in done.stderr
    assert "512 to 8192" in done.stderr


def test_unknown_method_lists_the_allowed_ones(stack: StackInfo) -> None:
    request = "cluster: dev\noptions: {storage_class_methods: {csi-snap: teleport}}\n"
    done = lifeboat(stack, "backup", "run", "--request", "-", stdin=request)
    assert done.returncode != 0
    assert "options.storage_class_methods.csi-snap" in done.stderr
    for method in ("snapshot", "pvc", "host_volume", "skip"):
        assert method in done.stderr


def test_restore_mapping_must_be_old_equals_new(stack: StackInfo, tmp_path: Path) -> None:
    done = lifeboat(
        stack, "restore", "run", "--recovery-point", "rp-1", "--namespace-mapping", "shop"
    )
    assert done.returncode != 0
    assert "'shop' is not OLD=NEW" in done.stderr
