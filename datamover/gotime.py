"""Timestamps as restic writes them: Go's RFC 3339 with nanoseconds and the writer's offset.

Python's datetime stops at microseconds; file times need nanoseconds to survive a round
trip (restore sets them with ``os.utime(ns=...)``), so a timestamp is kept as integer
nanoseconds since the epoch plus the UTC offset it was written with.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import core_schema

_NS = 1_000_000_000
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_DATE_TIME = "%04d-%02d-%02dT%02d:%02d:%02d"
_GMTIME_MIN = (dt.date.min.toordinal() - _EPOCH_ORDINAL) * 86400
"""Seconds of 0001-01-01T00:00:00 UTC: `time.gmtime` covers years 1..9999 here."""
_GMTIME_MAX = (dt.date.max.toordinal() - _EPOCH_ORDINAL + 1) * 86400 - 1
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)


@lru_cache(maxsize=4096)
def _utc_second(civil: str, zone: str) -> tuple[int, int]:
    """Seconds since the epoch and UTC offset of ``YYYY-MM-DDTHH:MM:SS`` in a zone
    (``Z``, ``z`` or ``+hh:mm``); cached, since the files of a tree share their seconds.
    The pattern fixed the layout; datetime's C parser checks the ranges (as Go does)."""
    local = dt.datetime.fromisoformat(civil)
    seconds = (local.toordinal() - _EPOCH_ORDINAL) * 86400 + (
        local.hour * 3600 + local.minute * 60 + local.second
    )
    if zone in ("Z", "z"):
        return seconds, 0
    offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
    if zone[0] == "-":
        offset = -offset
    return seconds - offset, offset


def _nanos(fraction: str | None) -> int:
    return int(fraction[:9].ljust(9, "0")) if fraction else 0


@dataclass(frozen=True, slots=True, order=False)
class GoTime:
    """An instant (``unix_ns``) and the UTC offset in seconds it is displayed with."""

    unix_ns: int
    utc_offset: int = 0
    _text: str | None = field(default=None, compare=False, repr=False)
    """The RFC 3339 text this time was parsed from, when it is exactly what `format`
    gives: trees re-encode the parent's unchanged nodes, and formatting costs more than
    keeping the string."""

    @classmethod
    def from_unix_ns(cls, unix_ns: int, utc_offset: int | None = None) -> GoTime:
        """Local offset by default, as Go's ``time.Unix`` gives; pass 0 for UTC."""
        if utc_offset is None:
            utc_offset = _local_offset(unix_ns // _NS)
        return cls(unix_ns, utc_offset)

    @classmethod
    def now(cls) -> GoTime:
        return cls.from_unix_ns(time.time_ns())

    @classmethod
    def from_datetime(cls, value: dt.datetime) -> GoTime:
        if value.tzinfo is None:
            value = value.astimezone()
        offset = value.utcoffset()
        seconds = (value.date().toordinal() - _EPOCH_ORDINAL) * 86400 + (
            value.hour * 3600 + value.minute * 60 + value.second
        )
        offset_s = int(offset.total_seconds()) if offset is not None else 0
        return cls((seconds - offset_s) * _NS + value.microsecond * 1000, offset_s)

    @classmethod
    def parse(cls, text: str) -> GoTime:
        match = _RFC3339.fullmatch(text)
        if match is None:
            raise ValueError(f"invalid RFC 3339 time {text!r}")
        fraction, zone = match.group(1, 2)
        utc_seconds, offset = _utc_second(text[:19], zone)
        canonical = text[10] == "T" and zone != "z"
        if zone not in ("Z", "z"):
            canonical = canonical and offset != 0 and int(zone[4:6]) < 60
        if fraction:
            canonical = canonical and len(fraction) <= 9 and fraction[-1] != "0"
        return cls(utc_seconds * _NS + _nanos(fraction), offset, text if canonical else None)

    def format(self) -> str:
        """Go's ``time.RFC3339Nano``: trailing zeros of the fraction dropped, ``Z`` for UTC."""
        if self._text is not None:
            return self._text
        seconds, nanos = divmod(self.unix_ns, _NS)
        return _with_fraction(_civil_time(seconds + self.utc_offset), nanos) + _zone(
            self.utc_offset
        )

    def is_local(self, unix_ns: int) -> bool:
        """Whether this equals ``from_unix_ns(unix_ns)``, without building that time: a
        backup asks this for every timestamp of every unchanged file."""
        return self.unix_ns == unix_ns and self.utc_offset == _local_offset(unix_ns // _NS)

    def to_datetime(self) -> dt.datetime:
        """Microsecond precision, for display and comparisons across snapshots."""
        zone = dt.timezone(dt.timedelta(seconds=self.utc_offset))
        base = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (base + dt.timedelta(microseconds=self.unix_ns // 1000)).astimezone(zone)

    def __str__(self) -> str:
        return self.format()

    def __lt__(self, other: GoTime) -> bool:
        return self.unix_ns < other.unix_ns

    def __le__(self, other: GoTime) -> bool:
        return self.unix_ns <= other.unix_ns

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # (Imported here: the worker processes parse times without pydantic.)
        from pydantic_core import core_schema

        def validate(value: Any) -> GoTime:
            if isinstance(value, GoTime):
                return value
            if isinstance(value, str):
                return _parse_cached(value)
            if isinstance(value, dt.datetime):
                return cls.from_datetime(value)
            raise ValueError(f"cannot read a time from {type(value).__name__}")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda value: value.format(), when_used="json"
            ),
        )


ZERO_TIME = GoTime.parse("0001-01-01T00:00:00Z")
"""Go's zero ``time.Time``, which restic writes for unset times."""


def format_local_ns(unix_ns: int) -> str:
    """``GoTime.from_unix_ns(unix_ns).format()`` without building a GoTime: a backup
    formats three times of every file, and most files share their second with others."""
    seconds, nanos = divmod(unix_ns, _NS)
    civil, zone = _local_second(seconds)
    return _with_fraction(civil, nanos) + zone


@lru_cache(maxsize=4096)
def _local_second(unix_s: int) -> tuple[str, str]:
    """The civil time and zone suffix of a second, in the local zone."""
    offset = _local_offset(unix_s)
    return _civil_time(unix_s + offset), _zone(offset)


def _with_fraction(civil: str, nanos: int) -> str:
    return f"{civil}.{nanos:09d}".rstrip("0") if nanos else civil


def _zone(offset: int) -> str:
    """``Z`` for UTC, else ``+hh:mm`` or ``-hh:mm``."""
    if offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    off_h, off_m = divmod(abs(offset) // 60, 60)
    return f"{sign}{off_h:02d}:{off_m:02d}"


@lru_cache(maxsize=4096)
def _civil_time(local: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of local seconds since the epoch; cached, since the files of
    a tree share their seconds (a file's mtime and ctime, files written together)."""
    if _GMTIME_MIN <= local <= _GMTIME_MAX:
        return _DATE_TIME % time.gmtime(local)[:6]
    # Clamped to years 1..9999.
    days, rest = divmod(local, 86400)
    ordinal = min(max(days + _EPOCH_ORDINAL, 1), dt.date.max.toordinal())
    date = dt.date.fromordinal(ordinal)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return _DATE_TIME % (date.year, date.month, date.day, hour, minute, second)


_parse_cached = lru_cache(maxsize=16384)(GoTime.parse)
"""Trees repeat timestamps (a file's ctime is often its mtime); a GoTime is immutable."""


def unix_ns_of(text: object) -> int:
    """The instant of a time as a tree writes it (absent: Go's zero time); ValueError or
    TypeError if it is not one."""
    if text is None:
        return ZERO_TIME.unix_ns
    if not isinstance(text, str):
        raise TypeError(f"a time must be a string, not {type(text).__name__}")
    # (`GoTime.parse` without the GoTime: a restore reads two times of every file.)
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid RFC 3339 time {text!r}")
    fraction, zone = match.group(1, 2)
    return _utc_second(text[:19], zone)[0] * _NS + _nanos(fraction)


def _local_offset(unix_s: int) -> int:
    if time.timezone == 0 and not time.daylight and time.tzname[0] == "UTC":
        return 0  # the usual zone of a container: no lookup per timestamp
    try:
        return time.localtime(unix_s).tm_gmtoff
    except (OverflowError, OSError, ValueError):
        return 0
