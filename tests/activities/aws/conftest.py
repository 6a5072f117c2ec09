"""Fixtures for the AWS activity tests: a realistic EKS cluster seeded in the local
stack's moto (roles with inline and attached policies, a customer-managed policy, node
groups, Fargate profiles, an OIDC provider and IRSA roles); `aws_credentials` and
`moto_client` come from `devstack.fixtures`.

moto keeps one account for the whole test session, so every seed has unique names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devstack.eks_seed import SeededEks, seed_eks_cluster


@pytest.fixture
def seed_eks(moto_client: Callable[[str], Any]) -> Callable[[], SeededEks]:
    """Seeds a fresh cluster on each call."""
    return lambda: seed_eks_cluster(moto_client("iam"), moto_client("eks"))
