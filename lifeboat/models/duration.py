"""Durations as people type them (``30d``, ``12h``, ``90m``) and as ISO-8601 (``P30D``).

Accepted forms:

- ISO-8601 durations: ``P30D``, ``PT12H``, ``P1DT12H``, ``PT1.5S`` (what the JSON of a
  model holds: pydantic writes durations as ISO-8601);
- whole numbers with units ``w`` (weeks), ``d``, ``h``, ``m`` (minutes), ``s``, largest
  first, optionally combined: ``30d``, ``12h``, ``90m``, ``1d12h``, ``2w``;
- a ``datetime.timedelta`` from Python.

A bare number is refused: in a retention field ``30`` could mean seconds or days.
Negative durations are refused everywhere.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError, WithJsonSchema

from lifeboat.models.constraints import Check
from lifeboat.models.errors import invalid, show

DURATION_FORMS = (
    "ISO-8601 (P30D, PT12H, P1DT12H) or whole numbers with units w, d, h, m, s, "
    "largest first (30d, 12h, 90m, 1d12h)"
)
_UNITS = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_ISO = TypeAdapter(timedelta)


def parse_duration(text: str) -> timedelta:
    """Parse one of the accepted forms; ``ValueError`` names the forms otherwise."""
    compact = "".join(text.split()).lower()
    if compact.startswith("p"):
        try:
            return _ISO.validate_python(compact.upper())
        except ValidationError:
            pass
    else:
        match = _UNITS.fullmatch(compact)
        if compact and match is not None:
            weeks, days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
            return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    raise ValueError(f"{show(text)} is not a duration; use {DURATION_FORMS}")


def format_duration(value: timedelta) -> str:
    """The short form of a duration (``30d``, ``1h30m``, ``1.5s``), for messages and tables."""
    if value < timedelta(0):
        return "-" + format_duration(-value)
    seconds_total, micros = divmod(value // timedelta(microseconds=1), 1_000_000)
    minutes_total, seconds = divmod(seconds_total, 60)
    hours_total, minutes = divmod(minutes_total, 60)
    days, hours = divmod(hours_total, 24)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if micros:
        parts.append(f"{seconds}.{micros:06d}".rstrip("0") + "s")
    elif seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise invalid("duration", str(exc)) from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise invalid(
            "duration",
            f"{show(value)} has no unit; a bare number is ambiguous; use {DURATION_FORMS}",
        )
    return value


def _at_least(minimum: timedelta, *, inclusive: bool) -> Check:
    def check(value: timedelta) -> timedelta:
        if value > minimum or (inclusive and value == minimum):
            return value
        if minimum == timedelta(0):
            allowed = "must not be negative" if inclusive else "must be longer than 0s"
        else:
            allowed = f"the minimum is {format_duration(minimum)}"
        raise invalid("duration_too_short", f"{format_duration(value)} is too short; {allowed}")

    return Check(check)


# Not ``format: duration``: that promises ISO-8601 only, and ``30d`` is not.
_SCHEMA = WithJsonSchema({"type": "string", "examples": ["30d", "12h", "90m", "1d12h", "P30D"]})

Duration = Annotated[
    timedelta, BeforeValidator(_coerce), _at_least(timedelta(0), inclusive=True), _SCHEMA
]
"""A duration of zero or more."""

PositiveDuration = Annotated[
    timedelta, BeforeValidator(_coerce), _at_least(timedelta(0), inclusive=False), _SCHEMA
]
"""A duration longer than zero: retentions."""

MIN_INTERVAL = timedelta(minutes=1)
Interval = Annotated[
    timedelta, BeforeValidator(_coerce), _at_least(MIN_INTERVAL, inclusive=True), _SCHEMA
]
"""A schedule interval: at least a minute, Temporal Schedules' finest useful grain here."""
