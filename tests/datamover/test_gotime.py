from __future__ import annotations

import datetime as dt
import random
import time

import pytest

from datamover import gotime
from datamover.gotime import ZERO_TIME, GoTime, format_local_ns


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T03:54:49.760299445Z",
        "2015-01-02T18:10:50.895208559+01:00",
        "2014-12-06T17:50:23.34513538-05:30",
        "0001-01-01T00:00:00Z",
        "2024-02-29T23:59:59Z",
    ],
)
def test_go_rfc3339nano_round_trips(text: str) -> None:
    assert GoTime.parse(text).format() == text


def test_nanoseconds_and_offset_survive() -> None:
    t = GoTime.parse("2015-01-02T18:10:50.895208559+01:00")
    assert t.unix_ns == 1420218650_895208559
    assert t.utc_offset == 3600
    assert GoTime.from_unix_ns(t.unix_ns, 0).format() == "2015-01-02T17:10:50.895208559Z"
    assert t.to_datetime() == dt.datetime(2015, 1, 2, 17, 10, 50, 895208, tzinfo=dt.UTC)
    assert t > ZERO_TIME


def test_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        GoTime.parse("yesterday")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2015-01-02t18:10:50.1+01:00", "2015-01-02T18:10:50.1+01:00"),
        ("2015-01-02T18:10:50.100z", "2015-01-02T18:10:50.1Z"),
        ("2015-01-02T18:10:50+00:00", "2015-01-02T18:10:50Z"),
        ("2015-01-02T18:10:50.1234567891-00:30", "2015-01-02T18:10:50.123456789-00:30"),
    ],
)
def test_parsed_text_is_reused_only_when_go_would_write_it(text: str, canonical: str) -> None:
    assert GoTime.parse(text).format() == canonical
    assert GoTime.parse(canonical).format() == canonical
    assert GoTime.parse(text) == GoTime.parse(canonical)


def test_rejects_out_of_range_fields_and_trailing_newline() -> None:
    for text in ("2024-01-01T24:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T00:00:00Z\n"):
        with pytest.raises(ValueError):
            GoTime.parse(text)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"])
def test_format_local_ns_is_what_a_local_gotime_formats(
    zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    gotime._local_second.cache_clear()
    try:
        rng = random.Random(zone)
        instants = [0, -1, 1, 10**9, 1_700_000_000_123_456_789, 1_700_000_000 * 10**9]
        instants += [rng.randrange(-(10**18), 4 * 10**18) for _ in range(2000)]
        instants += [rng.randrange(1_600_000_000, 1_800_000_000) * 10**9 for _ in range(500)]
        for unix_ns in instants:
            assert format_local_ns(unix_ns) == GoTime.from_unix_ns(unix_ns).format(), unix_ns
    finally:
        monkeypatch.undo()
        time.tzset()
        gotime._local_second.cache_clear()
