from __future__ import annotations

from datetime import UTC, datetime

from workflows.naming import backup_workflow_id, recovery_point_id, restore_workflow_id

WHEN = datetime(2026, 11, 26, 4, 5, 6, tzinfo=UTC)


def test_ids_are_readable_and_linked() -> None:
    workflow_id = backup_workflow_id("prod", WHEN)
    assert workflow_id == "backup-prod-20261126T040506Z"
    assert recovery_point_id("prod", workflow_id, WHEN) == "prod-20261126T040506Z"
    assert restore_workflow_id("prod-20261126T040506Z", WHEN) == (
        "restore-prod-20261126T040506Z-20261126T040506Z"
    )


def test_a_hand_made_workflow_id_still_gives_a_valid_recovery_point_id() -> None:
    assert recovery_point_id("prod", "my backup/with spaces!", WHEN) == "my-backup-with-spaces"
    assert recovery_point_id("prod", "///", WHEN) == "prod-20261126T040506Z"
    assert len(recovery_point_id("prod", "x" * 300, WHEN)) == 128
