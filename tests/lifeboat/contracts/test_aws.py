"""The EKS contracts: the restore request's options, its plan against a capture, and JSON
round trips through the Temporal converter."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from lifeboat.contracts.aws import (
    AttachedPolicy,
    EksCapture,
    EksClusterConfig,
    EksRestoreRequest,
    ExistingRole,
    FargateProfile,
    FargateSelector,
    IamRole,
    NodeGroup,
    OidcProvider,
    RoleFromBackup,
    RoleUse,
    ScalingConfig,
    VpcConfig,
)
from lifeboat.eks_planning import EksPlanError, plan_eks_restore
from lifeboat.models import AwsLink

ACCOUNT = "123456789012"
OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC"


def _role(name: str, use: RoleUse, principal: dict[str, str]) -> IamRole:
    return IamRole(
        arn=f"arn:aws:iam::{ACCOUNT}:role/{name}",
        name=name,
        trust_policy={"Statement": [{"Effect": "Allow", "Principal": principal}]},
        attached_policies=[
            AttachedPolicy(arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", name="x")
        ],
        uses=[use],
    )


def _capture() -> EksCapture:
    link = AwsLink(
        account_id=ACCOUNT,
        region="us-east-1",
        eks_cluster_name="prod",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/lifeboat-link",
    )
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    return EksCapture(
        account_id=ACCOUNT,
        region="us-east-1",
        link=link,
        cluster=EksClusterConfig(
            name="prod",
            arn=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/prod",
            version="1.29",
            role_arn=role + "prod-cluster",
            vpc=VpcConfig(subnet_ids=["subnet-1", "subnet-2"]),
        ),
        node_groups=[
            NodeGroup(
                name=name,
                node_role_arn=role + "prod-node",
                subnets=["subnet-1"],
                scaling=ScalingConfig(min_size=1, max_size=3, desired_size=2),
                instance_types=["m5.large"],
            )
            for name in ("general", "gpu")
        ],
        fargate_profiles=[
            FargateProfile(
                name=name,
                pod_execution_role_arn=role + "prod-fargate",
                subnets=["subnet-1"],
                selectors=[FargateSelector(namespace=name)],
            )
            for name in ("jobs", "batch")
        ],
        oidc_providers=[OidcProvider(arn=OIDC, url="oidc.eks.us-east-1.amazonaws.com/id/ABC")],
        roles=[
            _role("prod-cluster", RoleUse.CLUSTER, {"Service": "eks.amazonaws.com"}),
            _role("prod-node", RoleUse.NODE_GROUP, {"Service": "ec2.amazonaws.com"}),
            _role("prod-fargate", RoleUse.FARGATE, {"Service": "eks-fargate-pods.amazonaws.com"}),
            _role("prod-lb", RoleUse.LOAD_BALANCER_CONTROLLER, {"Federated": OIDC}),
        ],
    )


def test_defaults_restore_everything_with_new_roles_named_for_the_cluster() -> None:
    plan = plan_eks_restore(
        _capture(), EksRestoreRequest(recovery_point="rp-1", cluster_name="prod-copy")
    )

    assert [r.name for r in plan.roles] == [
        "prod-cluster-prod-copy",
        "prod-node-prod-copy",
        "prod-fargate-prod-copy",
    ]
    assert plan.cluster.role_arn == f"arn:aws:iam::{ACCOUNT}:role/prod-cluster-prod-copy"
    assert [g.name for g in plan.node_groups] == ["general", "gpu"]
    assert {g.node_role_arn for g in plan.node_groups} == {
        f"arn:aws:iam::{ACCOUNT}:role/prod-node-prod-copy"
    }
    assert [p.name for p in plan.fargate_profiles] == ["jobs", "batch"]
    assert [p.arn for p in plan.oidc_providers] == [OIDC]
    assert any("trusted principals" in w for w in plan.warnings)


def test_edits_existing_roles_and_removals_are_applied() -> None:
    existing = f"arn:aws:iam::{ACCOUNT}:role/shared-nodes"
    request = EksRestoreRequest.model_validate(
        {
            "recovery_point": "rp-1",
            "cluster_name": "prod-copy",
            "kubernetes_version": "1.30",
            "subnet_ids": ["subnet-9"],
            "cluster_role": {"kind": "existing", "arn": f"arn:aws:iam::{ACCOUNT}:role/eks"},
            "node_groups": {
                "general": {
                    "node_role": {"kind": "existing", "arn": existing},
                    "scaling": {"min_size": 2, "max_size": 6, "desired_size": 3},
                },
                "gpu": {"restore": False},
            },
            "fargate_profiles": {
                "batch": {"restore": False},
                "jobs": {
                    "pod_execution_role": {"kind": "from_backup", "name": "jobs-pods"},
                    "subnets": ["subnet-7"],
                },
            },
            "oidc_providers": [],
        }
    )

    plan = plan_eks_restore(_capture(), request)

    assert plan.cluster.version == "1.30"
    assert plan.cluster.vpc.subnet_ids == ["subnet-9"]
    assert plan.cluster.role_arn.endswith("role/eks")
    [group] = plan.node_groups
    assert (group.name, group.node_role_arn, group.scaling.max_size) == ("general", existing, 6)
    [profile] = plan.fargate_profiles
    assert profile.subnets == ["subnet-7"]
    assert profile.pod_execution_role_arn.endswith("role/jobs-pods")
    assert [r.name for r in plan.roles] == ["jobs-pods"]  # nothing else is created
    assert plan.oidc_providers == []


def test_names_the_backup_lacks_are_errors() -> None:
    request = EksRestoreRequest.model_validate(
        {
            "recovery_point": "rp-1",
            "cluster_name": "copy",
            "node_groups": {"nope": {}},
            "fargate_profiles": {"missing": {"restore": False}},
        }
    )
    with pytest.raises(EksPlanError) as raised:
        plan_eks_restore(_capture(), request)
    assert "node_groups: the backup has no 'nope'; it has: general, gpu" in str(raised.value)
    assert "fargate_profiles: the backup has no 'missing'" in str(raised.value)


def test_kubernetes_restore_must_target_a_named_cluster_of_the_same_point() -> None:
    with pytest.raises(ValidationError) as raised:
        EksRestoreRequest.model_validate(
            {
                "recovery_point": "rp-1",
                "cluster_name": "copy",
                "kubernetes": {"recovery_point": "rp-2"},
            }
        )
    text = str(raised.value)
    assert "differs from recovery_point" in text
    assert "target_cluster" in text


def test_role_choice_is_discriminated_and_checked() -> None:
    request = EksRestoreRequest.model_validate(
        {
            "recovery_point": "rp-1",
            "cluster_name": "copy",
            "addons": {
                "vpc-cni": {"role": {"kind": "existing", "arn": f"arn:aws:iam::{ACCOUNT}:role/cni"}}
            },
        }
    )
    assert isinstance(request.addons["vpc-cni"].role, ExistingRole)
    assert isinstance(request.cluster_role, RoleFromBackup)
    with pytest.raises(ValidationError):
        EksRestoreRequest.model_validate(
            {
                "recovery_point": "rp-1",
                "cluster_name": "copy",
                "cluster_role": {"kind": "existing", "arn": "nope"},
            }
        )


def test_capture_round_trips_through_the_temporal_converter() -> None:
    capture = _capture()
    [payload] = pydantic_data_converter.payload_converter.to_payloads([capture])
    [back] = pydantic_data_converter.payload_converter.from_payloads([payload], [EksCapture])
    assert back == capture
