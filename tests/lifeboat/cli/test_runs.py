"""`lifeboat backup|restore run` refuse bad requests before starting anything."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.fixtures import LifeboatCli


def test_unknown_cluster_names_the_configured_ones(lifeboat_cli: LifeboatCli) -> None:
    done = lifeboat_cli("backup", "run", "--cluster", "nope")
    assert done.returncode != 0
    assert "cluster: unknown cluster 'nope'; configured: dev, dev2" in done.stderr
    assert "Started" not in done.stderr


def test_invalid_option_names_field_value_and_range(lifeboat_cli: LifeboatCli) -> None:
    request = "cluster: dev\noptions: {datamover_memory_limit_mib: 100}\n"
    done = lifeboat_cli("backup", "run", "--request", "-", stdin=request)
    assert done.returncode != 0
    assert "options.datamover_memory_limit_mib: 100 is out of range" in done.stderr
    assert "512 to 8192" in done.stderr


def test_unknown_method_lists_the_allowed_ones(lifeboat_cli: LifeboatCli) -> None:
    request = "cluster: dev\noptions: {storage_class_methods: {csi-snap: teleport}}\n"
    done = lifeboat_cli("backup", "run", "--request", "-", stdin=request)
    assert done.returncode != 0
    assert "options.storage_class_methods.csi-snap" in done.stderr
    for method in ("snapshot", "pvc", "host_volume", "skip"):
        assert method in done.stderr


def test_restore_mapping_must_be_old_equals_new(lifeboat_cli: LifeboatCli, tmp_path: Path) -> None:
    done = lifeboat_cli("restore", "run", "--recovery-point", "rp-1", "--namespace-mapping", "shop")
    assert done.returncode != 0
    assert "'shop' is not OLD=NEW" in done.stderr


def test_backup_run_wait_json_then_list_and_describe(lifeboat_cli: LifeboatCli) -> None:
    done = lifeboat_cli(
        "backup", "run", "--cluster", "dev", "--namespace", "kube-public", "--wait", "--json"
    )
    assert done.returncode == 0, done.stderr
    point = json.loads(done.stdout)
    assert point["status"] == "Completed"
    assert point["cluster"] == "dev"
    assert point["volumes"] == []
    assert point["id"].startswith("dev-")

    listed = lifeboat_cli("backup", "list", "--cluster", "dev", "--json")
    assert listed.returncode == 0, listed.stderr
    assert point["id"] in {p["id"] for p in json.loads(listed.stdout)}

    described = lifeboat_cli("backup", "describe", point["id"], "--json")
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["resource_snapshot_id"] == point["resource_snapshot_id"]

    missing = lifeboat_cli("backup", "describe", "dev-19700101T000000Z")
    assert missing.returncode != 0
    assert "recovery_point: 'dev-19700101T000000Z' is not in the catalog" in missing.stderr
