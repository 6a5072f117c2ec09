"""A storage location's maintenance settings and the Temporal Schedule made from them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from lifeboat.contracts.maintenance import MaintenanceRequest
from lifeboat.maintenance import to_schedule
from lifeboat.models import StorageLocation, format_validation_error


def location(**maintenance: Any) -> StorageLocation:
    return StorageLocation.model_validate(
        {
            "name": "offsite",
            "endpoint": "http://127.0.0.1:8333",
            "bucket": "backups",
            "password": {"env": "REPO_PASSWORD"},
            **({"maintenance": maintenance} if maintenance else {}),
        }
    )


def test_a_location_is_maintained_daily_with_the_data_movers_margin_by_default() -> None:
    settings = location().maintenance
    assert settings.schedule.cron == "@daily" and settings.schedule.time_zone == "UTC"
    assert settings.gc_safety_margin == timedelta(hours=1)
    assert settings.check_read_data_percent == 5.0


def test_the_schedule_starts_the_scheduled_maintenance_with_the_locations_settings() -> None:
    schedule = to_schedule(
        location(
            schedule={"cron": "30 2 * * *", "time_zone": "Europe/Berlin"},
            gc_safety_margin="2h",
            check_read_data_percent=10,
        )
    )
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "ScheduledRepositoryMaintenance"
    assert action.id == "maintenance-offsite-scheduled"
    [raw] = action.args
    request = MaintenanceRequest.model_validate(raw)
    assert request.storage_location == "offsite"
    assert request.gc_safety_margin == timedelta(hours=2)
    assert request.check_read_data_percent == 10
    assert schedule.spec.cron_expressions == ["30 2 * * *"]
    assert schedule.spec.time_zone_name == "Europe/Berlin"
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP


@pytest.mark.parametrize(
    ("maintenance", "expected"),
    [
        (
            {"schedule": {"cron": "@daily", "overlap": "allow_all"}},
            "maintenance.schedule.overlap: 'allow_all': maintenance of a repository never runs "
            "twice at once; allowed: skip, buffer_one",
        ),
        ({"gc_safety_margin": "-1h"}, "maintenance.gc_safety_margin:"),
        ({"check_read_data_percent": 0}, "maintenance.check_read_data_percent:"),
        ({"schedule": {"cron": "61 * * * *"}}, "maintenance.schedule.cron:"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    maintenance: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        location(**maintenance)
    assert expected in format_validation_error(refused.value)


def test_a_request_refuses_a_negative_margin_and_a_share_over_100() -> None:
    with pytest.raises(ValidationError) as refused:
        MaintenanceRequest.model_validate(
            {"storage_location": "x", "gc_safety_margin": "-5m", "check_read_data_percent": 101}
        )
    text = format_validation_error(refused.value)
    assert "gc_safety_margin" in text and "check_read_data_percent" in text
