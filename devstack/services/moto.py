"""moto's server as the AWS control plane (EKS, IAM, CloudFormation, EC2, STS)."""

from __future__ import annotations

import sys

import boto3
from botocore.config import Config

from devstack.info import AwsInfo
from devstack.ports import HOST


def command(port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)]


def environment() -> dict[str, str]:
    # AWS managed policies (e.g. AmazonEKSClusterPolicy) must exist for role attachments.
    return {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}


def info(port: int) -> AwsInfo:
    return AwsInfo(endpoint=f"http://{HOST}:{port}")


def healthy(aws: AwsInfo) -> bool:
    """An STS call: cheap, unlike moto's data dump, which serialises every managed policy."""
    sts = boto3.client(
        "sts",
        endpoint_url=aws.endpoint,
        region_name=aws.region,
        aws_access_key_id=aws.access_key,
        aws_secret_access_key=aws.secret_key,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    return bool(sts.get_caller_identity()["Account"])
