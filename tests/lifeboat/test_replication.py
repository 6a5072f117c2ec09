"""`lifeboat replication ...` against the stack's Temporal: the same commands as policies,
on schedules `replication-<name>` whose runs are migrations."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from devstack.fixtures import LifeboatCli


def test_cli_create_list_export_delete(lifeboat_cli: LifeboatCli, tmp_path: Path) -> None:
    name = f"t-{uuid.uuid4().hex[:10]}"
    file = tmp_path / "replication.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "source_cluster": "dev",
                "target_cluster": "dev2",
                "schedule": {"cron": "0 3 1 1 *", "paused": True},
                "delete_removed": True,
            }
        )
    )
    created = lifeboat_cli("replication", "create", "--file", str(file))
    assert created.returncode == 0, created.stderr
    try:
        listed = lifeboat_cli("replication", "list")
        assert listed.returncode == 0 and "NEXT RUNS" in listed.stdout
        exported = lifeboat_cli("replication", "export", name)
        [back] = yaml.safe_load(exported.stdout)
        assert back["delete_removed"] is True
        assert back["target_cluster"] == "dev2"
    finally:
        deleted = lifeboat_cli("replication", "delete", name)
    assert deleted.returncode == 0, deleted.stderr
    gone = lifeboat_cli("replication", "trigger", name)
    assert gone.returncode == 1
    assert f"unknown replication {name!r}" in gone.stderr


def test_cli_refuses_an_unknown_target_cluster_before_creating_anything(
    lifeboat_cli: LifeboatCli, tmp_path: Path
) -> None:
    name = f"t-{uuid.uuid4().hex[:10]}"
    file = tmp_path / "replication.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "source_cluster": "dev",
                "target_cluster": "nowhere",
                "schedule": {"interval": "1h"},
            }
        )
    )
    done = lifeboat_cli("replication", "create", "--file", str(file))
    assert done.returncode == 1
    assert "unknown cluster 'nowhere'" in done.stderr
    listed = lifeboat_cli("replication", "export")
    assert name not in listed.stdout


def test_cli_migrate_refuses_a_bad_request_by_field(lifeboat_cli: LifeboatCli) -> None:
    done = lifeboat_cli("migrate", "run", "--source-cluster", "dev", "--target-cluster", "dev")
    assert done.returncode == 1
    assert "target_cluster: 'dev' is the source cluster" in done.stderr
