"""`lifeboat backup expire <id>`: expire one recovery point now.

It looks the recovery point up in the catalog (through the control worker) and starts its
expiry without the waits, or tells its scheduled expiry to stop waiting.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from lifeboat.cli.options import config_option
from lifeboat.client import LifeboatClient, failure_message
from lifeboat.config import ConfigError, load_config
from lifeboat.contracts.expiry import ExpiryResult
from lifeboat.expiry import expire_now


async def _expire(
    config_path: Path | None, recovery_point: str, storage_location: str, wait: bool
) -> tuple[str, ExpiryResult | None]:
    lifeboat = await LifeboatClient.connect(load_config(config_path))
    point = await lifeboat.describe_recovery_point(
        recovery_point, storage_location=storage_location
    )
    handle = await expire_now(lifeboat.temporal, point)
    if not wait:
        return handle.id, None
    return handle.id, ExpiryResult.model_validate(await handle.result())


@click.command("expire")
@config_option
@click.argument("recovery_point")
@click.option("--storage-location", default="default", show_default=True)
@click.option("--wait", is_flag=True, help="Wait until it is expired.")
def expire(
    config_path: Path | None, recovery_point: str, storage_location: str, wait: bool
) -> None:
    """Expire a recovery point now: delete its preserved VolumeSnapshots, its repository
    snapshots and its catalog entry (after any restore of it has ended)."""
    try:
        workflow_id, result = asyncio.run(
            _expire(config_path, recovery_point, storage_location, wait)
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # unknown names, a recovery point not in the catalog
        raise click.ClickException(failure_message(exc)) from None
    click.echo(f"expiry of {recovery_point}: {workflow_id}")
    if result is not None:
        click.echo(f"VolumeSnapshots deleted: {len(result.volume_snapshots_deleted)}")
        click.echo(f"repository snapshots forgotten: {len(result.repository_snapshots_forgotten)}")
