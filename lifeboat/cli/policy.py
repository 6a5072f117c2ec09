"""`lifeboat policy ...`: backup policies, each a Temporal Schedule (see `lifeboat.policies`)."""

from __future__ import annotations

from pathlib import Path

import click

from lifeboat.cli.options import config_option
from lifeboat.cli.scheduled import ScheduledCommands
from lifeboat.models import parse_duration
from lifeboat.policies import BACKUP_POLICIES, PolicyService

_commands = ScheduledCommands(BACKUP_POLICIES, PolicyService)
policy = _commands.group(
    "policy",
    "Backup policies: backups on a schedule (Temporal Schedules `policy-<name>`).",
    trigger=False,
)


@policy.command()
@config_option
@click.argument("name")
@click.option("--retention", default=None, help="Keep this run's recovery point this long (7d).")
def trigger(config_path: Path | None, name: str, retention: str | None) -> None:
    """Run a policy now, with its own retention or the one given."""
    try:
        keep = parse_duration(retention) if retention is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--retention") from None
    run = _commands.run(config_path, lambda service: service.trigger(name, keep))
    if run is None:
        click.echo(f"triggered policy {name}")
    else:
        click.echo(f"started {run.workflow_id}" + (f"  {run.ui_url}" if run.ui_url else ""))
