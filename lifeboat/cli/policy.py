"""`lifeboat policy ...`: backup policies, each a Temporal Schedule (see `lifeboat.policies`).

Every failure a person can fix (a bad file, an unknown policy or cluster, a name taken)
ends in one `Error: ...` message and exit code 1, before anything changed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from lifeboat.client import LifeboatClient
from lifeboat.config import ConfigError, load_config
from lifeboat.models import BackupPolicy, format_validation_error, parse_duration
from lifeboat.policies import PolicyNotFoundError, PolicyService, PolicySummary

T = TypeVar("T")
_out = Console()
_SUMMARIES = TypeAdapter(list[PolicySummary])

_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LIFEBOAT_CONFIG",
    default=None,
    help="Configuration file (default $LIFEBOAT_HOME/config.yaml).",
)
_file_option = click.option(
    "--file",
    "policy_file",
    type=click.File("r"),
    required=True,
    help="A BackupPolicy as YAML or JSON ('-' for stdin).",
)


def _with_service(config_path: Path | None, use: Callable[[PolicyService], Awaitable[T]]) -> T:
    async def run() -> T:
        client = await LifeboatClient.connect(load_config(config_path))
        return await use(PolicyService(client))

    try:
        return asyncio.run(run())
    except ValidationError as exc:
        raise click.ClickException(
            "invalid policy: " + "; ".join(format_validation_error(exc).splitlines())
        ) from None
    except (ConfigError, PolicyNotFoundError, ValueError, yaml.YAMLError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None


def _read_policy(policy_file: Any) -> BackupPolicy:
    try:
        loaded = yaml.safe_load(policy_file.read())
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{policy_file.name}: not YAML or JSON: {exc}") from None
    try:
        return BackupPolicy.model_validate(loaded)
    except ValidationError as exc:
        raise click.ClickException(
            "invalid policy: " + "; ".join(format_validation_error(exc).splitlines())
        ) from None


@click.group()
def policy() -> None:
    """Backup policies: backups on a schedule (Temporal Schedules `policy-<name>`)."""


@policy.command()
@_config_option
@_file_option
def create(config_path: Path | None, policy_file: Any) -> None:
    """Create a policy from a file."""
    new = _read_policy(policy_file)
    _with_service(config_path, lambda service: service.create(new))
    click.echo(f"created policy {new.name}")


@policy.command()
@_config_option
@_file_option
def update(config_path: Path | None, policy_file: Any) -> None:
    """Replace a policy (paused state and note included) with the file's."""
    changed = _read_policy(policy_file)
    _with_service(config_path, lambda service: service.update(changed))
    click.echo(f"updated policy {changed.name}")


@policy.command()
@_config_option
@click.argument("name")
@click.option("--note", default=None, help="Why it is paused; shown in list and the UI.")
def pause(config_path: Path | None, name: str, note: str | None) -> None:
    """Stop a policy's scheduled runs until resumed."""
    _with_service(config_path, lambda service: service.pause(name, note))
    click.echo(f"paused policy {name}")


@policy.command()
@_config_option
@click.argument("name")
@click.option("--note", default=None)
def resume(config_path: Path | None, name: str, note: str | None) -> None:
    """Resume a paused policy."""
    _with_service(config_path, lambda service: service.resume(name, note))
    click.echo(f"resumed policy {name}")


@policy.command()
@_config_option
@click.argument("name")
@click.option("--retention", default=None, help="Keep this run's recovery point this long (7d).")
def trigger(config_path: Path | None, name: str, retention: str | None) -> None:
    """Run a policy now, with its own retention or the one given."""
    try:
        keep = parse_duration(retention) if retention is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--retention") from None
    run = _with_service(config_path, lambda service: service.trigger(name, keep))
    if run is None:
        click.echo(f"triggered policy {name}")
    else:
        click.echo(f"started {run.workflow_id}" + (f"  {run.ui_url}" if run.ui_url else ""))


@policy.command()
@_config_option
@click.argument("name")
def delete(config_path: Path | None, name: str) -> None:
    """Delete a policy; its recovery points stay until they expire."""
    _with_service(config_path, lambda service: service.delete(name))
    click.echo(f"deleted policy {name}")


@policy.command("list")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def list_policies(config_path: Path | None, as_json: bool) -> None:
    """Policies with their schedule, state and next run times."""
    summaries = _with_service(config_path, lambda service: service.list())
    if as_json:
        click.echo(json.dumps(_SUMMARIES.dump_python(summaries, mode="json"), indent=2))
        return
    table = Table("NAME", "CLUSTER", "SCHEDULE", "STATE", "NEXT RUNS (UTC)", "LAST RUN")
    for summary in summaries:
        state = (
            "paused" + (f": {summary.note}" if summary.note else "") if summary.paused else "active"
        )
        next_runs = "\n".join(f"{t:%Y-%m-%d %H:%M}" for t in summary.next_runs[:3]) or "-"
        last = summary.recent_runs[-1].workflow_id if summary.recent_runs else None
        table.add_row(
            summary.name, summary.cluster, summary.schedule, state, next_runs, last or "-"
        )
    _out.print(table)


@policy.command("export")
@_config_option
@click.argument("names", nargs=-1)
def export_policies(config_path: Path | None, names: tuple[str, ...]) -> None:
    """Print policies (all, or the named ones) as YAML."""
    text = _with_service(config_path, lambda service: service.export_yaml(names or None))
    click.echo(text, nl=False)


@policy.command("import")
@_config_option
@click.argument("policy_file", type=click.File("r"))
@click.option("--update", "update_existing", is_flag=True, help="Replace existing policies.")
def import_policies(config_path: Path | None, policy_file: Any, update_existing: bool) -> None:
    """Create policies from an export; all are checked before any is created."""
    text = policy_file.read()
    names = _with_service(config_path, lambda service: service.import_yaml(text, update_existing))
    click.echo(f"imported {len(names)} policies: {', '.join(names)}")
