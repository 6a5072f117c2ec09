"""Migration requests and replication policies: defaults, what each run asks for, and
field-naming errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lifeboat.contracts.migration import MigrationRequest, ReplicationPolicy
from lifeboat.models import format_validation_error
from lifeboat.models.restore import ExistingResourcePolicy, ExistingVolumeDataPolicy


def replication(**changes: Any) -> dict[str, Any]:
    return {
        "name": "standby",
        "source_cluster": "a",
        "target_cluster": "b",
        "schedule": {"interval": "15m"},
        **changes,
    }


def test_a_migration_needs_only_its_two_clusters() -> None:
    request = MigrationRequest.model_validate({"source_cluster": "a", "target_cluster": "b"})
    backup = request.backup_request()
    assert backup.cluster == "a"
    assert backup.policy is None
    restore = request.restore_request("rp-1")
    assert (restore.recovery_point, restore.target_cluster) == ("rp-1", "b")
    assert restore.existing_resource_policy is ExistingResourcePolicy.SKIP
    assert restore.replication is None


def test_each_replication_run_updates_replaces_and_names_the_replication() -> None:
    policy = ReplicationPolicy.model_validate(replication(delete_removed=True))
    request = policy.to_request()
    assert request.replication == "standby"
    assert request.delete_removed is True
    restore = request.restore_request("rp-1")
    assert restore.replication == "standby"
    assert restore.existing_resource_policy is ExistingResourcePolicy.UPDATE
    assert restore.existing_volume_data is ExistingVolumeDataPolicy.REPLACE


def test_the_same_cluster_is_a_target_only_with_a_namespace_mapping() -> None:
    same = {"source_cluster": "a", "target_cluster": "a"}
    with pytest.raises(ValidationError) as raised:
        MigrationRequest.model_validate(same)
    assert format_validation_error(raised.value).startswith(
        "target_cluster: 'a' is the source cluster; allowed: another cluster"
    )
    mapped = MigrationRequest.model_validate({**same, "restore": {"namespace_mapping": {"x": "y"}}})
    assert mapped.restore.target_namespace("x") == "y"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedule": {"cron": "61 * * * *"}}, "schedule.cron"),
        ({"schedule": {"cron": "0 3 * * *", "time_zone": "Mars/Olympus"}}, "schedule.time_zone"),
        ({"source_cluster": "Not_A_Label"}, "source_cluster"),
        ({"backup_options": {"concurrent_pvs": 0}}, "backup_options.concurrent_pvs"),
        ({"retention": "soon"}, "retention"),
    ],
)
def test_bad_replications_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ReplicationPolicy.model_validate(replication(**changes))
    assert format_validation_error(raised.value).startswith(f"{field}: ")
