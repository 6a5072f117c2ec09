from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import BaseModel

from lifeboat.models import Duration, PositiveDuration, format_duration, parse_duration
from lifeboat.models.duration import Interval

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


class Durations(BaseModel):
    any: Duration | None = None
    positive: PositiveDuration | None = None
    interval: Interval | None = None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h 30m", timedelta(days=1, hours=12, minutes=30)),
        ("30D", timedelta(days=30)),
        ("P30D", timedelta(days=30)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("pt1.5s", timedelta(seconds=1.5)),
    ],
)
def test_accepted_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert Durations(any=text).any == expected


@pytest.mark.parametrize("text", ["", "30", "30x", "12h30d", "1.5h", "P", "PXD", "-1d", "d"])
def test_refused_forms_name_the_value_and_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration; use ISO-8601") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)
    assert "30d, 12h, 90m" in str(caught.value)


def test_bare_number_is_ambiguous(rejection: Rejection) -> None:
    message = rejection(Durations, {"any": 30})
    assert message.startswith("any: 30 has no unit; a bare number is ambiguous; use ISO-8601")


def test_negative_refused_and_zero_only_where_allowed(rejection: Rejection) -> None:
    assert Durations(any="0s").any == timedelta(0)
    assert (
        rejection(Durations, {"any": timedelta(days=-1)})
        == "any: -1d is too short; must not be negative"
    )
    assert rejection(Durations, {"positive": "0s"}) == (
        "positive: 0s is too short; must be longer than 0s"
    )


def test_interval_minimum_is_a_minute(rejection: Rejection) -> None:
    assert Durations(interval="1m").interval == timedelta(minutes=1)
    assert rejection(Durations, {"interval": "59s"}) == (
        "interval: 59s is too short; the minimum is 1m"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(days=30), "30d"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=1, seconds=5), "1d5s"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(hours=-2), "-2h"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    if value >= timedelta(0):
        assert parse_duration(text.replace("1.5s", "PT1.5S")) == value


def test_json_holds_iso_8601() -> None:
    data = Durations(any="1d12h").model_dump_json()
    assert data == '{"any":"P1DT12H","positive":null,"interval":null}'
    assert Durations.model_validate_json(data).any == timedelta(days=1, hours=12)
