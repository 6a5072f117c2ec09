"""Capturing a realistic EKS cluster from moto: every part the restore needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.aws.activities import CAPTURE_DOCUMENT, AwsActivities
from activities.aws.capture import capture_cluster
from activities.aws.session import LinkedAccount
from activities.repository import open_repository
from datamover.documents import load_document
from devstack.eks_seed import seed_eks_cluster
from devstack.info import StackInfo
from lifeboat.config import load_config
from lifeboat.contracts.aws import CaptureEksInput, EksCapture, RoleUse


def test_capture_holds_cluster_node_groups_fargate_oidc_and_roles(
    aws_credentials: StackInfo, seed_eks: Callable[[], Any]
) -> None:
    seeded = seed_eks()
    account = LinkedAccount(seeded.link, aws_credentials.aws.endpoint)

    capture = capture_cluster(account.eks, account.iam, seeded.link)

    cluster = capture.cluster
    assert (cluster.name, cluster.version, cluster.role_arn) == (
        seeded.name,
        "1.29",
        seeded.cluster_role,
    )
    assert cluster.vpc.subnet_ids == ["subnet-a1", "subnet-b2"]
    assert cluster.vpc.endpoint_private_access is True
    assert cluster.vpc.public_access_cidrs == ["203.0.113.0/24"]
    assert cluster.enabled_log_types == ["api", "audit"]
    assert cluster.encryption[0].resources == ["secrets"]
    assert cluster.kubernetes_network_config["serviceIpv4Cidr"] == "10.100.0.0/16"
    assert cluster.tags == {"env": "prod"}
    assert cluster.oidc_issuer == seeded.issuer

    groups = {g.name: g for g in capture.node_groups}
    assert set(groups) == {"general", "spot"}
    assert groups["spot"].instance_types == ["m5.xlarge", "m5a.xlarge"]
    assert groups["spot"].capacity_type == "SPOT"
    assert groups["general"].taints[0].key == "dedicated"
    assert groups["general"].scaling.max_size == 4

    profiles = {p.name: p for p in capture.fargate_profiles}
    assert set(profiles) == {"serverless", "batch"}
    assert profiles["serverless"].selectors[0].namespace == "jobs"
    assert profiles["serverless"].pod_execution_role_arn == seeded.fargate_role

    [provider] = capture.oidc_providers
    assert provider.arn == seeded.oidc_arn
    assert provider.client_ids == ["sts.amazonaws.com"]
    assert provider.tags == {"managed-by": "eks"}

    roles = {r.arn: r for r in capture.roles}
    # >=: moto gives every cluster the same issuer, so other seeds' IRSA roles match too
    assert set(roles) >= {
        seeded.cluster_role,
        seeded.node_role,
        seeded.fargate_role,
        seeded.lb_role,
        seeded.app_role,
    }
    cluster_role = roles[seeded.cluster_role]
    assert cluster_role.uses == [RoleUse.CLUSTER]
    assert cluster_role.trust_policy["Statement"][0]["Principal"] == {
        "Service": "eks.amazonaws.com"
    }
    assert [p.name for p in cluster_role.inline_policies] == ["cloudwatch-metrics"]
    assert [p.name for p in cluster_role.attached_policies] == ["AmazonEKSClusterPolicy"]
    assert cluster_role.tags == {"team": "platform"}
    node_policies = {p.arn: p for p in roles[seeded.node_role].attached_policies}
    assert node_policies[seeded.custom_policy_arn].document is not None  # customer-managed
    assert roles[seeded.node_role].uses == [RoleUse.NODE_GROUP]  # once, though two groups
    assert roles[seeded.lb_role].uses == [RoleUse.LOAD_BALANCER_CONTROLLER]
    assert roles[seeded.app_role].uses == [RoleUse.SERVICE_ACCOUNT]
    assert roles[seeded.fargate_role].uses == [RoleUse.FARGATE]
    assert capture.addons == []  # moto has no add-on API; see test_addons.py
    assert any("add-ons" in w for w in capture.warnings)


def test_capture_activity_stores_the_capture_in_the_repository(
    aws_credentials: StackInfo, seed_eks: Callable[[], Any]
) -> None:
    seeded = seed_eks()
    config = load_config(aws_credentials.home / "config.yaml")
    location = config.storage_locations["default"]
    activities = AwsActivities(config)

    result = ActivityEnvironment().run(
        activities.capture_eks,
        CaptureEksInput(
            aws=seeded.link, storage_location=location, recovery_point="rp-eks-1", cluster="dev"
        ),
    )

    assert result.summary.cluster == seeded.name
    assert result.summary.link_version == "0.1.9"
    assert result.summary.link_update_available is False
    assert sorted(result.summary.fargate_profiles) == ["batch", "serverless"]
    with open_repository(location) as repo:
        stored = EksCapture.model_validate_json(
            load_document(repo, result.snapshot_id, CAPTURE_DOCUMENT)
        )
        _, snapshot = repo.load_snapshot(result.snapshot_id)
    assert stored.cluster.name == seeded.name
    assert len(stored.roles) >= 5
    assert "kind=aws" in (snapshot.tags or [])
    assert "recovery-point=rp-eks-1" in (snapshot.tags or [])


def test_capture_reports_an_outdated_account_link(
    aws_credentials: StackInfo, moto_client: Callable[[str], Any]
) -> None:
    seeded = seed_eks_cluster(moto_client("iam"), moto_client("eks"), link_version="0.1.8")
    config = load_config(aws_credentials.home / "config.yaml")

    result = ActivityEnvironment().run(
        AwsActivities(config).capture_eks,
        CaptureEksInput(
            aws=seeded.link,
            storage_location=config.storage_locations["default"],
            recovery_point="rp-eks-2",
            cluster="dev",
        ),
    )

    assert result.summary.link_update_available is True
    assert any(
        "version 0.1.8, older than this Lifeboat's 0.1.9: update available" in w
        for w in result.summary.warnings
    )
