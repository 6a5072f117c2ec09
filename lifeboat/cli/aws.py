"""`lifeboat aws link|status|update`: the CloudFormation stack of an AWS account link.

Run with credentials allowed to manage CloudFormation stacks and IAM roles in the account
(the default AWS chain); the AWS endpoint comes from the configuration's `aws_endpoint_url`
when one is set (the local stack's moto).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from lifeboat.account_link import (
    DEFAULT_STACK,
    TEMPLATE,
    AccountLink,
    AccountLinkError,
    LinkStatus,
)
from lifeboat.config import ConfigError, load_config

P = ParamSpec("P")
R = TypeVar("R")

_options = [
    click.option("--region", required=True, envvar="AWS_REGION", help="Region of the stack."),
    click.option("--stack-name", default=DEFAULT_STACK, show_default=True),
    click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="LIFEBOAT_CONFIG",
        default=None,
        help="Configuration file, for its aws_endpoint_url (optional).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout."),
]


def _common(func: Callable[P, R]) -> Callable[P, R]:
    """--region, --stack-name, --config and --json on every subcommand."""
    for option in reversed(_options):
        func = option(func)
    return func


def _link(region: str, stack_name: str, config_path: Path | None) -> AccountLink:
    endpoint = None
    try:
        endpoint = load_config(config_path).aws_endpoint_url
    except ConfigError:
        if config_path is not None:
            raise
    return AccountLink(region, stack_name=stack_name, endpoint_url=endpoint, template=TEMPLATE)


def _show(status: LinkStatus, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    **status.model_dump(),
                    "update_available": status.update_available,
                    "state": status.state,
                }
            )
        )
        return
    click.echo(f"stack:    {status.stack_name} ({status.region}) {status.stack_status}")
    click.echo(f"role:     {status.role_arn or '-'}")
    click.echo(
        f"version:  {status.deployed_version or 'unknown'} "
        f"(template {status.template_version}): {status.state}"
    )


@click.group()
def aws() -> None:
    """Link an AWS account so EKS clusters in it are backed up with their AWS configuration."""


@aws.command()
@_common
@click.option(
    "--trusted-principal",
    required=True,
    help="ARN of the principal Lifeboat's control worker runs as; only it may assume the role.",
)
@click.option("--role-name", default=None, help="Name of the role (default lifeboat-account-link).")
def link(
    region: str,
    stack_name: str,
    config_path: Path | None,
    as_json: bool,
    trusted_principal: str,
    role_name: str | None,
) -> None:
    """Create the account link stack; prints the role ARN for the cluster's `aws.role_arn`."""
    try:
        _show(_link(region, stack_name, config_path).link(trusted_principal, role_name), as_json)
    except (AccountLinkError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


@aws.command()
@_common
def status(region: str, stack_name: str, config_path: Path | None, as_json: bool) -> None:
    """Show the link's stack and whether a newer template is available."""
    try:
        _show(_link(region, stack_name, config_path).status(), as_json)
    except (AccountLinkError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None


@aws.command()
@_common
def update(region: str, stack_name: str, config_path: Path | None, as_json: bool) -> None:
    """Update the link's stack to this Lifeboat's template (parameters kept)."""
    try:
        _show(_link(region, stack_name, config_path).update(), as_json)
    except (AccountLinkError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
