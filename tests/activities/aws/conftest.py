"""Fixtures for the AWS activity tests: moto from the local stack, and a realistic EKS
cluster seeded in it (roles with inline and attached policies, a customer-managed policy,
node groups, Fargate profiles, an OIDC provider and IRSA roles).

moto keeps one account for the whole test session, so every seed has unique names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from devstack.eks_seed import SeededEks, seed_eks_cluster
from devstack.info import StackInfo


@pytest.fixture
def aws_credentials(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> StackInfo:
    """The worker's own credentials, as the default AWS chain finds them, for moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.aws.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack.aws.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack.aws.region)
    return stack


@pytest.fixture(scope="session")
def moto_client(stack: StackInfo) -> Callable[[str], Any]:
    def make(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=stack.aws.endpoint,
            region_name=stack.aws.region,
            aws_access_key_id=stack.aws.access_key,
            aws_secret_access_key=stack.aws.secret_key,
        )

    return make


@pytest.fixture
def seed_eks(moto_client: Callable[[str], Any]) -> Callable[[], SeededEks]:
    """Seeds a fresh cluster on each call."""
    return lambda: seed_eks_cluster(moto_client("iam"), moto_client("eks"))
