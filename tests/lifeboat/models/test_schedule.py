from collections.abc import Callable
from datetime import timedelta

import pytest
from temporalio.client import ScheduleOverlapPolicy

from lifeboat.models import OverlapPolicy, Schedule

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


def test_defaults() -> None:
    schedule = Schedule(cron="0 2 * * *")
    assert schedule.time_zone == "UTC"
    assert schedule.overlap is OverlapPolicy.SKIP
    assert schedule.jitter is None
    assert schedule.paused is False
    assert schedule.note is None


@pytest.mark.parametrize(
    "cron", ["0 2 * * *", "*/15 * * * *", "0 3 * * mon-fri", "30 1 1,15 * *", "@daily", "@hourly"]
)
def test_valid_cron(cron: str) -> None:
    assert Schedule(cron=cron).cron == cron


def test_cron_whitespace_is_normalised() -> None:
    assert Schedule(cron="  0   2 * *   * ").cron == "0 2 * * *"


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        (
            "61 * * * *",
            "is not a valid cron expression: [61 * * * *] is not acceptable, out of range",
        ),
        ("0 0 31 2 *", "Day(s) [31] can never occur in month(s) [2]"),
        ("* * * *", "has 4 fields; allowed: five fields 'minute hour day-of-month month"),
        ("0 0 * * * 30", "has 6 fields"),
        ("@reboot", "is not a known macro; allowed: five fields"),
        ("@every 5m", "use 'interval' for a fixed period"),
        ("CRON_TZ=Europe/Berlin 0 2 * * *", "give the time zone in 'time_zone'"),
        ("a b c d e", "is not a valid cron expression"),
    ],
)
def test_invalid_cron_names_value_and_problem(
    rejection: Rejection, cron: str, problem: str
) -> None:
    message = rejection(Schedule, {"cron": cron})
    assert message.startswith(f"cron: {cron!r}")
    assert problem in message


def test_interval() -> None:
    assert Schedule(interval="6h").interval == timedelta(hours=6)
    assert Schedule(interval="PT1M").interval == timedelta(minutes=1)


def test_interval_minimum(rejection: Rejection) -> None:
    assert rejection(Schedule, {"interval": "30s"}) == (
        "interval: 30s is too short; the minimum is 1m"
    )


def test_exactly_one_of_cron_and_interval(rejection: Rejection) -> None:
    assert rejection(Schedule, {}) == "cron: give a cron expression or an interval"
    assert rejection(Schedule, {"cron": "@daily", "interval": "1h"}) == (
        "interval: cron '@daily' and an interval are both given; give exactly one"
    )


def test_time_zones(rejection: Rejection) -> None:
    assert Schedule(cron="@daily", time_zone="Europe/Berlin").time_zone == "Europe/Berlin"
    assert Schedule(cron="@daily", time_zone="America/Argentina/Buenos_Aires")
    message = rejection(Schedule, {"cron": "@daily", "time_zone": "Europe/Berln"})
    assert message.startswith(
        "time_zone: 'Europe/Berln' is not a known IANA time zone (like 'UTC' or 'Europe/Berlin')"
        "; did you mean 'Europe/Berlin'"
    )
    assert "is not a known IANA time zone" in rejection(
        Schedule, {"cron": "@daily", "time_zone": "../../etc/passwd"}
    )
    assert rejection(Schedule, {"cron": "@daily", "time_zone": "Mars/Olympus"}) == (
        "time_zone: 'Mars/Olympus' is not a known IANA time zone (like 'UTC' or 'Europe/Berlin')"
    )


def test_overlap_policies_are_temporals(rejection: Rejection) -> None:
    assert [policy.value for policy in OverlapPolicy] == [
        "skip",
        "buffer_one",
        "buffer_all",
        "cancel_other",
        "terminate_other",
        "allow_all",
    ]
    for policy in OverlapPolicy:
        assert ScheduleOverlapPolicy[policy.name].name == policy.name
    assert rejection(Schedule, {"cron": "@daily", "overlap": "queue"}) == (
        "overlap: 'queue' is not allowed; allowed: 'skip', 'buffer_one', 'buffer_all', "
        "'cancel_other', 'terminate_other' or 'allow_all'"
    )


def test_pause_with_note_and_jitter() -> None:
    schedule = Schedule(interval="1h", paused=True, note="storage migration", jitter="5m")
    assert (schedule.paused, schedule.note, schedule.jitter) == (
        True,
        "storage migration",
        timedelta(minutes=5),
    )
