"""Options several command groups share."""

from __future__ import annotations

from pathlib import Path

import click

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LIFEBOAT_CONFIG",
    default=None,
    help="Configuration file (default $LIFEBOAT_HOME/config.yaml).",
)
