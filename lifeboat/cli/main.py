"""The `lifeboat` command."""

from __future__ import annotations

import logging
import os
import sys

import click

from lifeboat.cli.aws import aws
from lifeboat.cli.dev import demo, dev
from lifeboat.cli.maintenance import maintenance
from lifeboat.cli.policy import policy
from lifeboat.cli.replication import replication
from lifeboat.cli.repo import repo
from lifeboat.cli.runs import backup, migrate, restore
from lifeboat.cli.schema import schema
from lifeboat.cli.worker import worker
from lifeboat.logging_setup import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


cli.add_command(dev)
cli.add_command(demo)
cli.add_command(schema)
cli.add_command(repo)
cli.add_command(worker)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(aws)
cli.add_command(policy)
cli.add_command(migrate)
cli.add_command(replication)
cli.add_command(maintenance)


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
