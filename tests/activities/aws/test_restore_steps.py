"""The EKS restore's creation steps against moto: equivalent resources, edits applied,
removed parts not created, and a second run of every step creating nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.aws.capture import capture_cluster
from activities.aws.eks_create import (
    ensure_cluster,
    ensure_fargate_profile,
    ensure_node_group,
    wait_cluster_active,
)
from activities.aws.errors import aws_errors
from activities.aws.iam_roles import RESTORE_TAG, ensure_role
from activities.aws.oidc import ensure_oidc_provider
from activities.aws.session import LinkedAccount
from activities.aws.survey import survey
from devstack.info import StackInfo
from lifeboat.contracts.aws import (
    AwsResource,
    AwsTarget,
    EksRestorePlan,
    EksRestoreRequest,
    ResourceKind,
)
from lifeboat.eks_planning import plan_eks_restore, target_link


def _run_steps(
    account: LinkedAccount, plan: EksRestorePlan, target: AwsTarget
) -> list[AwsResource]:
    def beat(_: str) -> None:
        pass

    made: list[AwsResource] = []
    for role in plan.roles:
        made += ensure_role(account.iam, role, target)
    made.append(ensure_cluster(account.eks, plan.cluster, target))
    state = wait_cluster_active(account.eks, plan.cluster.name, beat, 30, 0.1)
    assert state.oidc_issuer is not None
    for provider in plan.oidc_providers:
        made.append(ensure_oidc_provider(account.iam, state.oidc_issuer, provider, target))
    for group in plan.node_groups:
        made.append(ensure_node_group(account.eks, plan.cluster.name, group, target, beat, 30, 0.1))
    for profile in plan.fargate_profiles:
        made.append(
            ensure_fargate_profile(account.eks, plan.cluster.name, profile, target, beat, 30, 0.1)
        )
    return made


def test_restore_creates_equivalent_resources_once(
    aws_credentials: StackInfo, seed_eks: Callable[[], Any], moto_client: Callable[[str], Any]
) -> None:
    seeded = seed_eks()
    account = LinkedAccount(seeded.link, aws_credentials.aws.endpoint)
    capture = capture_cluster(account.eks, account.iam, seeded.link)
    new = f"restored-{uuid.uuid4().hex[:6]}"
    request = EksRestoreRequest.model_validate(
        {
            "recovery_point": "rp-1",
            "cluster_name": new,
            "kubernetes_version": "1.30",
            "node_groups": {
                "general": {"instance_types": ["t3.large"], "labels": {"pool": "edited"}},
                "spot": {"restore": False},
            },
            "fargate_profiles": {
                "batch": {"restore": False},
                "serverless": {"subnets": ["subnet-z9"]},
            },
        }
    )
    plan = plan_eks_restore(capture, request)
    target = AwsTarget(link=target_link(capture, request), restore_id=f"test-{new}")
    iam, eks = moto_client("iam"), moto_client("eks")
    # moto shares one issuer among its clusters: remove the provider so the restore makes it
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=seeded.oidc_arn)

    first = _run_steps(account, plan, target)

    created = {(r.kind, r.name) for r in first if r.created}
    assert (ResourceKind.CLUSTER, new) in created
    assert (ResourceKind.NODE_GROUP, "general") in created
    assert (ResourceKind.FARGATE_PROFILE, "serverless") in created
    assert any(kind is ResourceKind.OIDC_PROVIDER for kind, _ in created)
    cluster = eks.describe_cluster(name=new)["cluster"]
    assert cluster["version"] == "1.30"
    assert cluster["roleArn"].endswith(f"role/{seeded.name}-cluster-{new}")
    assert cluster["resourcesVpcConfig"]["subnetIds"] == ["subnet-a1", "subnet-b2"]
    assert cluster["tags"] == {"env": "prod", RESTORE_TAG: target.restore_id}
    assert eks.list_nodegroups(clusterName=new)["nodegroups"] == ["general"]
    group = eks.describe_nodegroup(clusterName=new, nodegroupName="general")["nodegroup"]
    assert group["instanceTypes"] == ["t3.large"]
    assert group["labels"] == {"pool": "edited"}
    assert group["taints"][0]["key"] == "dedicated"
    assert group["nodeRole"].endswith(f"role/{seeded.name}-node-{new}")
    assert eks.list_fargate_profiles(clusterName=new)["fargateProfileNames"] == ["serverless"]
    profile = eks.describe_fargate_profile(clusterName=new, fargateProfileName="serverless")
    assert profile["fargateProfile"]["subnets"] == ["subnet-z9"]
    assert profile["fargateProfile"]["selectors"] == [
        {"namespace": "jobs", "labels": {"fargate": "yes"}}
    ]

    original = iam.get_role(RoleName=f"{seeded.name}-cluster")["Role"]
    copy = iam.get_role(RoleName=f"{seeded.name}-cluster-{new}")["Role"]
    assert copy["AssumeRolePolicyDocument"] == original["AssumeRolePolicyDocument"]
    assert iam.list_role_policies(RoleName=copy["RoleName"])["PolicyNames"] == [
        "cloudwatch-metrics"
    ]
    attached = iam.list_attached_role_policies(RoleName=f"{seeded.name}-node-{new}")
    assert {p["PolicyArn"] for p in attached["AttachedPolicies"]} == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        seeded.custom_policy_arn,
    }
    provider = iam.get_open_id_connect_provider(
        OpenIDConnectProviderArn=next(r.arn for r in first if r.kind is ResourceKind.OIDC_PROVIDER)
    )
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]

    second = _run_steps(account, plan, target)

    assert [r for r in second if r.created] == []
    assert [(r.kind, r.name) for r in second] == [(r.kind, r.name) for r in first]
    assert eks.list_nodegroups(clusterName=new)["nodegroups"] == ["general"]
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) >= 1
    existing = survey(account.eks, account.iam, plan, target)
    assert {(r.kind, r.name) for r in existing} >= {
        (ResourceKind.CLUSTER, new),
        (ResourceKind.NODE_GROUP, "general"),
        (ResourceKind.FARGATE_PROFILE, "serverless"),
        *((ResourceKind.IAM_ROLE, spec.name) for spec in plan.roles),
    }


def test_a_cluster_name_taken_by_someone_else_is_a_conflict(
    aws_credentials: StackInfo, seed_eks: Callable[[], Any]
) -> None:
    seeded = seed_eks()
    account = LinkedAccount(seeded.link, aws_credentials.aws.endpoint)
    capture = capture_cluster(account.eks, account.iam, seeded.link)
    request = EksRestoreRequest(recovery_point="rp-1", cluster_name=seeded.name)
    plan = plan_eks_restore(capture, request)
    target = AwsTarget(link=seeded.link, restore_id="someone-else")

    with pytest.raises(ApplicationError) as raised, aws_errors():
        ensure_cluster(account.eks, plan.cluster, target)

    assert raised.value.non_retryable
    assert raised.value.type == "AwsConflict"
    assert seeded.name in raised.value.message
