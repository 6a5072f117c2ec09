"""A realistic EKS cluster in moto, for the tests and the demo: roles with inline, AWS-managed
and customer-managed policies, two node groups, two Fargate profiles, the cluster's OIDC
provider, and IRSA roles (the load balancer controller's and an application's).

Names are unique per call. moto gives every cluster of a process the same OIDC issuer, so
seeded clusters share one OIDC provider there (in AWS each cluster has its own).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lifeboat.models import AwsLink

ACCOUNT = "123456789012"
AWS_MANAGED = "arn:aws:iam::aws:policy/"


def trust(principal: dict[str, Any], condition: dict[str, Any] | None = None) -> str:
    action = "sts:AssumeRoleWithWebIdentity" if "Federated" in principal else "sts:AssumeRole"
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": action}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def allow(*actions: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": "*"}],
        }
    )


@dataclass(frozen=True)
class SeededEks:
    name: str
    link: AwsLink
    cluster_role: str
    node_role: str
    fargate_role: str
    lb_role: str
    app_role: str
    custom_policy_arn: str
    oidc_arn: str
    issuer: str


def _oidc_provider(iam: Any, issuer: str) -> str:
    try:
        return str(
            iam.create_open_id_connect_provider(
                Url=issuer,
                ClientIDList=["sts.amazonaws.com"],
                ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
                Tags=[{"Key": "managed-by", "Value": "eks"}],
            )["OpenIDConnectProviderArn"]
        )
    except ClientError as err:
        if err.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    host = issuer.removeprefix("https://")
    return next(
        str(p["Arn"])
        for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
        if p["Arn"].endswith(host)
    )


def seed_eks_cluster(iam: Any, eks: Any, link_version: str = "0.1.9") -> SeededEks:
    """A new cluster with unique names; `iam` and `eks` are boto3 clients of the account.
    Its account link role carries `link_version` as the account link template does."""
    name = f"prod-{uuid.uuid4().hex[:6]}"
    policy = iam.create_policy(
        PolicyName=f"{name}-ecr-pull", Path="/lifeboat-test/", PolicyDocument=allow("ecr:Get*")
    )["Policy"]["Arn"]

    def role(
        role_name: str,
        principal: dict[str, Any],
        condition: Any = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        return str(
            iam.create_role(
                RoleName=role_name,
                AssumeRolePolicyDocument=trust(principal, condition),
                Description=f"{role_name} of {name}",
                Tags=[{"Key": k, "Value": v} for k, v in (tags or {"team": "platform"}).items()],
            )["Role"]["Arn"]
        )

    cluster_role = role(f"{name}-cluster", {"Service": "eks.amazonaws.com"})
    iam.attach_role_policy(
        RoleName=f"{name}-cluster", PolicyArn=AWS_MANAGED + "AmazonEKSClusterPolicy"
    )
    iam.put_role_policy(
        RoleName=f"{name}-cluster",
        PolicyName="cloudwatch-metrics",
        PolicyDocument=allow("cloudwatch:PutMetricData"),
    )
    node_role = role(f"{name}-node", {"Service": "ec2.amazonaws.com"})
    for managed in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy"):
        iam.attach_role_policy(RoleName=f"{name}-node", PolicyArn=AWS_MANAGED + managed)
    iam.attach_role_policy(RoleName=f"{name}-node", PolicyArn=policy)
    fargate_role = role(f"{name}-fargate", {"Service": "eks-fargate-pods.amazonaws.com"})
    iam.attach_role_policy(
        RoleName=f"{name}-fargate",
        PolicyArn=AWS_MANAGED + "AmazonEKSFargatePodExecutionRolePolicy",
    )
    iam.put_role_policy(
        RoleName=f"{name}-fargate", PolicyName="logs", PolicyDocument=allow("logs:PutLogEvents")
    )

    cluster = eks.create_cluster(
        name=name,
        version="1.29",
        roleArn=cluster_role,
        resourcesVpcConfig={
            "subnetIds": ["subnet-a1", "subnet-b2"],
            "securityGroupIds": ["sg-0c1"],
            "endpointPublicAccess": True,
            "endpointPrivateAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
        kubernetesNetworkConfig={"serviceIpv4Cidr": "10.100.0.0/16"},
        logging={"clusterLogging": [{"types": ["api", "audit"], "enabled": True}]},
        encryptionConfig=[
            {
                "resources": ["secrets"],
                "provider": {"keyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"},
            }
        ],
        tags={"env": "prod"},
    )["cluster"]
    issuer = cluster["identity"]["oidc"]["issuer"]
    oidc_arn = _oidc_provider(iam, issuer)
    host = issuer.removeprefix("https://")
    lb_role = role(
        f"{name}-lb",
        {"Federated": oidc_arn},
        {
            "StringEquals": {
                f"{host}:sub": "system:serviceaccount:kube-system:aws-load-balancer-controller"
            }
        },
    )
    iam.put_role_policy(
        RoleName=f"{name}-lb",
        PolicyName="elb",
        PolicyDocument=allow("elasticloadbalancing:*"),
    )
    app_role = role(
        f"{name}-app",
        {"Federated": oidc_arn},
        {"StringEquals": {f"{host}:sub": "system:serviceaccount:shop:api"}},
    )
    for group, types in (("general", ["m5.large"]), ("spot", ["m5.xlarge", "m5a.xlarge"])):
        eks.create_nodegroup(
            clusterName=name,
            nodegroupName=group,
            nodeRole=node_role,
            subnets=["subnet-a1", "subnet-b2"],
            scalingConfig={"minSize": 1, "maxSize": 4, "desiredSize": 2},
            instanceTypes=types,
            capacityType="SPOT" if group == "spot" else "ON_DEMAND",
            labels={"pool": group},
            taints=[{"key": "dedicated", "value": group, "effect": "NO_SCHEDULE"}],
            tags={"pool": group},
        )
    for profile, namespace in (("serverless", "jobs"), ("batch", "batch")):
        eks.create_fargate_profile(
            clusterName=name,
            fargateProfileName=profile,
            podExecutionRoleArn=fargate_role,
            subnets=["subnet-a1"],
            selectors=[{"namespace": namespace, "labels": {"fargate": "yes"}}],
            tags={"profile": profile},
        )
    link = AwsLink(
        account_id=ACCOUNT,
        region="us-east-1",
        eks_cluster_name=name,
        role_arn=role(
            f"{name}-lifeboat-link",
            {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            tags={"lifeboat.io/account-link-version": link_version},
        ),
    )
    return SeededEks(
        name=name,
        link=link,
        cluster_role=cluster_role,
        node_role=node_role,
        fargate_role=fargate_role,
        lb_role=lb_role,
        app_role=app_role,
        custom_policy_arn=policy,
        oidc_arn=oidc_arn,
        issuer=issuer,
    )
