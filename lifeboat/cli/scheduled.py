"""The commands every kind of scheduled job has (`lifeboat policy ...`, `lifeboat replication
...`): create, update, pause, resume, trigger, delete, list, export, import.

Every failure a person can fix (a bad file, an unknown name or cluster, a name taken) ends
in one `Error: ...` message and exit code 1, before anything changed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import click
import yaml
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.table import Table

from lifeboat.cli.options import config_option
from lifeboat.client import LifeboatClient
from lifeboat.config import ConfigError, load_config
from lifeboat.models import format_validation_error
from lifeboat.models.base import LifeboatModel
from lifeboat.schedules import (
    ScheduledJobNotFoundError,
    ScheduledJobSummary,
    ScheduledKind,
    ScheduleService,
)

J = TypeVar("J", bound=LifeboatModel)
T = TypeVar("T")
_out = Console()
_SUMMARIES = TypeAdapter(list[ScheduledJobSummary])


class ScheduledCommands(Generic[J]):
    """Builds the command group of one kind of scheduled job."""

    def __init__(
        self, kind: ScheduledKind[J], service: Callable[[LifeboatClient], ScheduleService[J]]
    ) -> None:
        self.kind = kind
        self.noun = kind.noun
        self.service = service

    def _invalid(self, exc: ValidationError) -> click.ClickException:
        lines = format_validation_error(exc).splitlines()
        return click.ClickException(f"invalid {self.noun}: " + "; ".join(lines))

    def run(self, config_path: Path | None, use: Callable[[Any], Awaitable[T]]) -> T:
        async def run() -> T:
            client = await LifeboatClient.connect(load_config(config_path))
            return await use(self.service(client))

        try:
            return asyncio.run(run())
        except ValidationError as exc:
            raise self._invalid(exc) from None
        except (ConfigError, ScheduledJobNotFoundError, ValueError, yaml.YAMLError) as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None

    def read(self, job_file: Any) -> J:
        try:
            loaded = yaml.safe_load(job_file.read())
        except yaml.YAMLError as exc:
            raise click.ClickException(f"{job_file.name}: not YAML or JSON: {exc}") from None
        try:
            return self.kind.model.model_validate(loaded)
        except ValidationError as exc:
            raise self._invalid(exc) from None

    def group(self, name: str, help_text: str, *, trigger: bool = True) -> click.Group:
        """The group with every command; ``trigger=False`` leaves that one to the caller."""
        noun, model_name = self.noun, self.kind.model.__name__
        file_option = click.option(
            "--file",
            "job_file",
            type=click.File("r"),
            required=True,
            help=f"A {model_name} as YAML or JSON ('-' for stdin).",
        )
        group = click.Group(name, help=help_text)

        @group.command(help=f"Create a {noun} from a file.")
        @config_option
        @file_option
        def create(config_path: Path | None, job_file: Any) -> None:
            new = self.read(job_file)
            self.run(config_path, lambda service: service.create(new))
            click.echo(f"created {noun} {self.kind.name(new)}")

        @group.command(help=f"Replace a {noun} (paused state and note included) with the file's.")
        @config_option
        @file_option
        def update(config_path: Path | None, job_file: Any) -> None:
            changed = self.read(job_file)
            self.run(config_path, lambda service: service.update(changed))
            click.echo(f"updated {noun} {self.kind.name(changed)}")

        @group.command(help=f"Stop a {noun}'s scheduled runs until resumed.")
        @config_option
        @click.argument("name")
        @click.option("--note", default=None, help="Why it is paused; shown in list and the UI.")
        def pause(config_path: Path | None, name: str, note: str | None) -> None:
            self.run(config_path, lambda service: service.pause(name, note))
            click.echo(f"paused {noun} {name}")

        @group.command(help=f"Resume a paused {noun}.")
        @config_option
        @click.argument("name")
        @click.option("--note", default=None)
        def resume(config_path: Path | None, name: str, note: str | None) -> None:
            self.run(config_path, lambda service: service.resume(name, note))
            click.echo(f"resumed {noun} {name}")

        if trigger:

            @group.command(
                "trigger", help=f"Run a {noun} now, through its schedule (overlaps are skipped)."
            )
            @config_option
            @click.argument("name")
            def trigger_now(config_path: Path | None, name: str) -> None:
                self.run(config_path, lambda service: service.trigger_scheduled(name))
                click.echo(f"triggered {noun} {name}")

        @group.command(help=f"Delete a {noun}; what its runs made stays.")
        @config_option
        @click.argument("name")
        def delete(config_path: Path | None, name: str) -> None:
            self.run(config_path, lambda service: service.delete(name))
            click.echo(f"deleted {noun} {name}")

        @group.command("list", help="With schedule, state and next run times.")
        @config_option
        @click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
        def list_jobs(config_path: Path | None, as_json: bool) -> None:
            summaries = self.run(config_path, lambda service: service.list())
            if as_json:
                click.echo(json.dumps(_SUMMARIES.dump_python(summaries, mode="json"), indent=2))
                return
            _out.print(summary_table(summaries))

        @group.command("export", help=f"Print {noun} definitions (all, or those named) as YAML.")
        @config_option
        @click.argument("names", nargs=-1)
        def export_jobs(config_path: Path | None, names: tuple[str, ...]) -> None:
            text = self.run(config_path, lambda service: service.export_yaml(names or None))
            click.echo(text, nl=False)

        @group.command("import", help="Create from an export; all are checked before any is.")
        @config_option
        @click.argument("job_file", type=click.File("r"))
        @click.option("--update", "update_existing", is_flag=True, help="Replace existing ones.")
        def import_jobs(config_path: Path | None, job_file: Any, update_existing: bool) -> None:
            text = job_file.read()
            names = self.run(
                config_path, lambda service: service.import_yaml(text, update_existing)
            )
            click.echo(f"imported {len(names)}: {', '.join(names)}")

        return group


def summary_table(summaries: list[ScheduledJobSummary]) -> Table:
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
    return table
