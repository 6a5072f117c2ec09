"""boto3 clients in a linked account: assume the link's role, retry what AWS asks to retry.

botocore's "standard" retry mode already retries throttling and transient errors (5xx,
connection resets) with backoff; what still fails reaches Temporal's activity retry. Every
client also names the IAM permission a failed call needed (see `errors.py`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from activities.aws.errors import name_permission
from lifeboat.logging_setup import register_secret
from lifeboat.models import AwsLink

SESSION_NAME = "lifeboat"
RETRY_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60
)


def _with_permission_names(client: Any) -> Any:
    client.meta.events.register("after-call", name_permission)
    return client


def base_session(region: str) -> boto3.session.Session:
    """The worker's own credentials (the default AWS chain)."""
    return boto3.session.Session(region_name=region)


def client(session: boto3.session.Session, service: str, endpoint_url: str | None = None) -> Any:
    made = session.client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint_url, config=RETRY_CONFIG
    )
    return _with_permission_names(made)


def assume(link: AwsLink, endpoint_url: str | None = None) -> boto3.session.Session:
    """A session as the link's role in the linked account."""
    sts = client(base_session(link.region), "sts", endpoint_url)
    credentials = sts.assume_role(RoleArn=link.role_arn, RoleSessionName=SESSION_NAME)[
        "Credentials"
    ]
    register_secret(credentials["SecretAccessKey"])
    register_secret(credentials["SessionToken"])
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=link.region,
    )


class LinkedAccount:
    """The clients of one linked account, made once per activity call."""

    def __init__(self, link: AwsLink, endpoint_url: str | None = None) -> None:
        self.link = link
        self.endpoint_url = endpoint_url
        self.session = assume(link, endpoint_url)

    def client(self, service: str) -> Any:
        return client(self.session, service, self.endpoint_url)

    @cached_property
    def eks(self) -> Any:
        return self.client("eks")

    @cached_property
    def iam(self) -> Any:
        return self.client("iam")
