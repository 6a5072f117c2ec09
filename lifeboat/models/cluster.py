"""A Kubernetes cluster Lifeboat protects, and its optional link to an AWS account (EKS)."""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import model_validator

from lifeboat.models.base import LifeboatModel
from lifeboat.models.common import AbsolutePath, DnsLabel
from lifeboat.models.constraints import matching
from lifeboat.models.errors import FieldErrors, show

DEFAULT_KUBELET_PODS_DIR = "/var/lib/kubelet/pods"

ACCOUNT_ID_PATTERN = r"^[0-9]{12}$"
AWS_REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"
EKS_CLUSTER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"
ROLE_ARN_PATTERN = r"^arn:(aws|aws-cn|aws-us-gov):iam::([0-9]{12}):role/([\w+=,.@/-]+)$"
_ROLE_ARN = re.compile(ROLE_ARN_PATTERN)


AwsAccountId = Annotated[
    str,
    matching("aws_account_id", ACCOUNT_ID_PATTERN, "an AWS account id (12 digits, as a string)"),
]
AwsRegion = Annotated[
    str, matching("aws_region", AWS_REGION_PATTERN, "an AWS region name such as 'us-east-1'")
]
EksClusterName = Annotated[
    str,
    matching(
        "eks_cluster_name",
        EKS_CLUSTER_NAME_PATTERN,
        "an EKS cluster name (1 to 100 letters, digits, '-' and '_', "
        "starting with a letter or digit)",
    ),
]
RoleArn = Annotated[
    str,
    matching(
        "role_arn", ROLE_ARN_PATTERN, "an IAM role ARN like 'arn:aws:iam::123456789012:role/name'"
    ),
]


def aws_partition(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class AwsLink(LifeboatModel):
    """The AWS account an EKS cluster runs in, and the role Lifeboat assumes there."""

    account_id: AwsAccountId
    """The 12-digit AWS account id, as a string (leading zeros matter)."""

    region: AwsRegion
    """The region of the EKS cluster, e.g. ``us-east-1``."""

    eks_cluster_name: EksClusterName
    """The cluster's name in EKS (it may differ from Lifeboat's cluster name)."""

    role_arn: RoleArn
    """The role Lifeboat assumes in the account (created by the account link template)."""

    @model_validator(mode="after")
    def _role_in_account(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        match = _ROLE_ARN.fullmatch(self.role_arn)
        assert match is not None
        partition, account = match.group(1), match.group(2)
        if account != self.account_id:
            errors.add(
                "role_arn",
                "role_arn_account",
                f"{show(self.role_arn)} is in account {account}; it must be in account_id "
                f"{self.account_id}",
                self.role_arn,
            )
        expected = aws_partition(self.region)
        if partition != expected:
            errors.add(
                "role_arn",
                "role_arn_partition",
                f"{show(self.role_arn)} is in partition {partition!r}; region {self.region} "
                f"needs {expected!r}",
                self.role_arn,
            )
        errors.raise_if_any()
        return self


class Cluster(LifeboatModel):
    """How the cluster agent reaches a cluster's API, and where its nodes keep pod volumes.

    Exactly one way to connect: ``kubeconfig`` (with an optional ``context``) or
    ``in_cluster`` (the agent's service account, when it runs inside the cluster).
    """

    name: DnsLabel
    """Lifeboat's name for the cluster; it appears in task queue names and workflow ids."""

    kubeconfig: AbsolutePath | None = None
    """Absolute path of a kubeconfig file on the cluster agent."""

    context: str | None = None
    """A context of the kubeconfig; its current context when not given."""

    in_cluster: bool = False
    """Use the in-cluster service account configuration instead of a kubeconfig."""

    kubelet_pods_dir: AbsolutePath = DEFAULT_KUBELET_PODS_DIR
    """The kubelet's pods directory on every node, as node agents see it."""

    aws: AwsLink | None = None
    """The AWS account link of an EKS cluster; its AWS configuration is backed up too."""

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.in_cluster and self.kubeconfig is not None:
            errors.add(
                "in_cluster",
                "cluster_connection",
                f"in_cluster is true and kubeconfig is {show(self.kubeconfig)}; give exactly one",
                self.in_cluster,
            )
        elif not self.in_cluster and self.kubeconfig is None:
            errors.add(
                "kubeconfig",
                "cluster_connection",
                "is required unless in_cluster is true; give exactly one of them",
                None,
            )
        if self.context is not None and self.kubeconfig is None:
            errors.add(
                "context",
                "cluster_connection",
                f"{show(self.context)} is given without a kubeconfig; a context needs one",
                self.context,
            )
        errors.raise_if_any()
        return self
