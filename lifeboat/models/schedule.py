"""When a backup policy runs: the spec of its Temporal Schedule."""

from __future__ import annotations

import difflib
import zoneinfo
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator
from temporalio import workflow

from lifeboat.models.base import LifeboatModel
from lifeboat.models.constraints import Check
from lifeboat.models.duration import Duration, Interval
from lifeboat.models.errors import FieldErrors, invalid, show

# croniter calls platform.architecture() (a subprocess) on import, which the workflow sandbox
# refuses; passed through, it is imported once outside the sandbox, so a workflow may import
# these models without marking them pass-through itself.
with workflow.unsafe.imports_passed_through():
    from croniter import CroniterError, croniter

CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
"""The macros both croniter and Temporal Schedules understand."""


def _cron(expression: str) -> str:
    """Five fields or a macro: croniter and Temporal read six fields differently (seconds
    last versus year last), so six and seven are refused rather than guessed."""
    text = " ".join(expression.split())
    forms = "five fields 'minute hour day-of-month month day-of-week' or one of " + ", ".join(
        CRON_MACROS
    )
    if text.startswith(("CRON_TZ=", "TZ=")):
        raise invalid(
            "cron", f"{show(expression)}: give the time zone in 'time_zone', not in the expression"
        )
    if text.startswith("@every"):
        raise invalid("cron", f"{show(expression)}: use 'interval' for a fixed period")
    if text.startswith("@"):
        if text not in CRON_MACROS:
            raise invalid("cron", f"{show(expression)} is not a known macro; allowed: {forms}")
        return text
    if len(text.split(" ")) != 5:
        raise invalid(
            "cron", f"{show(expression)} has {len(text.split(' '))} fields; allowed: {forms}"
        )
    try:
        croniter.expand(text, strict=True)
    except CroniterError as exc:
        raise invalid("cron", f"{show(expression)} is not a valid cron expression: {exc}") from None
    return text


def _time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise invalid(
            "time_zone",
            f"{show(name)} is not a known IANA time zone (like 'UTC' or 'Europe/Berlin'){hint}",
        ) from None
    return name


CronExpression = Annotated[str, Check(_cron, {"examples": ["0 2 * * *", "@daily"]})]
TimeZone = Annotated[str, Check(_time_zone, {"examples": ["UTC", "Europe/Berlin"]})]


class OverlapPolicy(StrEnum):
    """What a schedule does when a run is due while the previous one still runs.

    Member names equal ``temporalio.client.ScheduleOverlapPolicy``'s, so
    ``ScheduleOverlapPolicy[policy.name]`` converts.
    """

    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    CANCEL_OTHER = "cancel_other"
    TERMINATE_OTHER = "terminate_other"
    ALLOW_ALL = "allow_all"


class Schedule(LifeboatModel):
    """A cron expression or an interval (exactly one), in a time zone."""

    cron: CronExpression | None = None
    """Five-field cron (``0 2 * * *``) or a macro (``@daily``), in ``time_zone``."""

    interval: Interval | None = None
    """A fixed period of at least a minute, e.g. ``6h``."""

    time_zone: TimeZone = "UTC"
    """IANA time zone of the cron expression, e.g. ``Europe/Berlin``."""

    overlap: OverlapPolicy = OverlapPolicy.SKIP
    """What to do when a run is due while the previous one still runs."""

    jitter: Duration | None = None
    """Start each run up to this much later at random, to spread load across policies."""

    paused: bool = False
    """A paused schedule starts no runs until resumed."""

    note: Annotated[str, Field(max_length=1000)] | None = None
    """Why the schedule is paused (or anything else worth telling the next person)."""

    @model_validator(mode="after")
    def _cron_or_interval(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.cron is not None and self.interval is not None:
            errors.add(
                "interval",
                "schedule_spec",
                f"cron {show(self.cron)} and an interval are both given; give exactly one",
                None,
            )
        elif self.cron is None and self.interval is None:
            errors.add("cron", "schedule_spec", "give a cron expression or an interval", None)
        errors.raise_if_any()
        return self
