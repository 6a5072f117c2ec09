"""The `lifeboat` command."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any

import click

from lifeboat.logging_setup import configure_logging

# pydantic looks for plugins by scanning every installed distribution's entry points the
# first time a model is built (~0.02 s of every command); the CLI uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

COMMANDS: dict[str, str] = {
    "dev": "lifeboat.cli.dev:dev",
    "demo": "lifeboat.cli.dev:demo",
    "schema": "lifeboat.cli.schema:schema",
    "repo": "lifeboat.cli.repo:repo",
    "worker": "lifeboat.cli.worker:worker",
    "backup": "lifeboat.cli.runs:backup",
    "restore": "lifeboat.cli.runs:restore",
    "aws": "lifeboat.cli.aws:aws",
    "policy": "lifeboat.cli.policy:policy",
    "migrate": "lifeboat.cli.runs:migrate",
    "replication": "lifeboat.cli.replication:replication",
    "maintenance": "lifeboat.cli.maintenance:maintenance",
}
"""Each subcommand as ``module:attribute``, imported only when it runs: `lifeboat repo`
must not pay for importing temporalio and the Kubernetes client (about 1.7 s)."""


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="warning",
    show_default=True,
    envvar="LIFEBOAT_LOG_LEVEL",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    envvar="LIFEBOAT_LOG_FORMAT",
    help="auto: readable on a terminal, JSON lines otherwise.",
)
def cli(log_level: str, log_format: str) -> None:
    """Lifeboat: back up, restore, migrate and replicate Kubernetes clusters on Temporal."""
    configure_logging(log_level, json=None if log_format == "auto" else log_format == "json")


def main() -> None:
    """Run the CLI, then leave without interpreter finalization.

    temporalio's Rust runtime keeps native threads that can abort the process while the
    interpreter finalizes ("PyGILState_Release ... must be current"), turning a successful
    command into exit code -6. Output and logs are flushed first; nothing of ours needs
    atexit handlers.
    """
    code: int = 0
    try:
        cli()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
