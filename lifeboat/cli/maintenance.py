"""`lifeboat maintenance ...`: garbage collection, a sampled check and the stats of a storage
location's repository, on its schedule or now (see `lifeboat.maintenance`).

Every failure a person can fix (an unknown location, a bad value, a maintenance already
running) ends in one `Error: ...` message and exit code 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from pydantic import ValidationError

from datamover.limits import DEFAULT_GC_SAFETY_MARGIN
from lifeboat.cli.options import config_option
from lifeboat.client import LifeboatClient, failure_message
from lifeboat.config import ConfigError, load_config
from lifeboat.contracts.maintenance import (
    MaintenanceResult,
    describe_check,
    describe_gc,
    describe_stats,
)
from lifeboat.maintenance import MaintenanceRunningError, MaintenanceService, MaintenanceStatus
from lifeboat.models import format_duration, format_validation_error

T = TypeVar("T")


def _with_service(config_path: Path | None, use: Callable[[MaintenanceService], Awaitable[T]]) -> T:
    async def run() -> T:
        client = await LifeboatClient.connect(load_config(config_path))
        return await use(MaintenanceService(client))

    try:
        return asyncio.run(run())
    except ValidationError as exc:
        raise click.ClickException("; ".join(format_validation_error(exc).splitlines())) from None
    except (ConfigError, MaintenanceRunningError, ValueError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    except click.ClickException:
        raise
    except Exception as exc:  # a failed run: its own failure message
        raise click.ClickException(failure_message(exc)) from None


def _summary(result: MaintenanceResult) -> list[str]:
    return [
        f"garbage collection: {describe_gc(result.garbage_collection)}",
        f"check: {describe_check(result.check)}",
        f"repository: {describe_stats(result.stats)}",
    ]


@click.group()
def maintenance() -> None:
    """Repository maintenance per storage location (Temporal Schedules `maintenance-<name>`)."""


@maintenance.command()
@config_option
@click.argument("storage_location", default="default")
@click.option(
    "--gc-safety-margin",
    default=None,
    help="Keep packs younger than this (default: the location's, normally "
    f"{format_duration(DEFAULT_GC_SAFETY_MARGIN)}).",
)
@click.option(
    "--read-data",
    "read_data",
    type=click.FloatRange(0, 100, min_open=True),
    default=None,
    help="Percent of the packs the check reads (default: the location's, normally 5).",
)
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
def run(
    config_path: Path | None,
    storage_location: str,
    gc_safety_margin: str | None,
    read_data: float | None,
    wait: bool,
) -> None:
    """Maintain a storage location's repository now (refused while one runs)."""

    async def start(service: MaintenanceService) -> tuple[str, MaintenanceResult | None]:
        given = {"gc_safety_margin": gc_safety_margin, "check_read_data_percent": read_data}
        request = service.request(
            storage_location, **{k: v for k, v in given.items() if v is not None}
        )
        handle = await service.start(request)
        if not wait:
            return handle.id, None
        return handle.id, MaintenanceResult.model_validate(await handle.result())

    workflow_id, result = _with_service(config_path, start)
    click.echo(f"started {workflow_id}")
    if result is not None:
        for line in _summary(result):
            click.echo(line)


@maintenance.command()
@config_option
def schedule(config_path: Path | None) -> None:
    """Create or update every location's schedule from the configuration (the control
    worker does this when it starts)."""
    applied = _with_service(config_path, lambda service: service.apply_schedules())
    for name, text in applied.items():
        click.echo(f"{name}: {text}")


@maintenance.command()
@config_option
@click.argument("storage_location", default="default")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def status(config_path: Path | None, storage_location: str, as_json: bool) -> None:
    """A location's schedule, next runs and last run with the repository's stats."""
    found: MaintenanceStatus = _with_service(
        config_path, lambda service: service.status(storage_location)
    )
    if as_json:
        click.echo(found.model_dump_json(indent=2))
        return
    click.echo(f"storage location: {found.storage_location}")
    if found.schedule is None:
        click.echo(
            "schedule: none (start the control worker or run `lifeboat maintenance schedule`)"
        )
    else:
        state = (" paused" + (f": {found.note}" if found.note else "")) if found.paused else ""
        click.echo(f"schedule: {found.schedule}{state}")
        click.echo(
            "next runs (UTC): "
            + (", ".join(f"{t:%Y-%m-%d %H:%M}" for t in found.next_runs[:3]) or "-")
        )
    last = found.last_run
    if last is None:
        click.echo("last run: none")
        return
    click.echo(
        f"last run: {last.workflow_id} {last.status}, started {last.started_at:%Y-%m-%d %H:%M:%S}"
    )
    if last.progress is not None:
        click.echo(f"phase: {last.progress.phase.value}")
        if last.progress.lock_holder:
            click.echo(f"waiting for: {last.progress.lock_holder}")
    if last.failure is not None:
        click.echo(f"failure: {last.failure}")
    if last.result is not None:
        for line in _summary(last.result):
            click.echo(line)
