"""After a failed restore step: which of the planned AWS resources exist now.

Read from AWS itself rather than from the steps' results, so a step that failed halfway
(a role created, its policies not yet attached) is reported as it is.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from activities.aws.eks_create import find_resource
from activities.aws.errors import error_code
from activities.aws.iam_roles import RESTORE_TAG, find_role, tag_dict
from activities.aws.oidc import find_provider
from lifeboat.contracts.aws import AwsResource, AwsTarget, EksRestorePlan, ResourceKind


def survey(eks: Any, iam: Any, plan: EksRestorePlan, target: AwsTarget) -> list[AwsResource]:
    found: list[AwsResource] = []
    for spec in plan.roles:
        role = find_role(iam, spec.name)
        if role is not None:
            tags = tag_dict(role.get("Tags") or iam.list_role_tags(RoleName=spec.name)["Tags"])
            found.append(
                AwsResource(
                    kind=ResourceKind.IAM_ROLE,
                    name=spec.name,
                    arn=role["Arn"],
                    created=tags.get(RESTORE_TAG) == target.restore_id,
                )
            )
    name = plan.cluster.name
    cluster = find_resource(eks.describe_cluster, "cluster", name=name)
    if cluster is None:
        return found
    ours = cluster.get("tags", {}).get(RESTORE_TAG) == target.restore_id
    found.append(
        AwsResource(kind=ResourceKind.CLUSTER, name=name, arn=cluster["arn"], created=ours)
    )
    issuer = cluster.get("identity", {}).get("oidc", {}).get("issuer")
    if issuer and plan.oidc_providers and (arn := find_provider(iam, issuer)) is not None:
        found.append(
            AwsResource(kind=ResourceKind.OIDC_PROVIDER, name=issuer, arn=arn, created=ours)
        )
    for group in plan.node_groups:
        got = find_resource(
            eks.describe_nodegroup, "nodegroup", clusterName=name, nodegroupName=group.name
        )
        if got is not None:
            found.append(
                AwsResource(
                    kind=ResourceKind.NODE_GROUP,
                    name=group.name,
                    arn=got["nodegroupArn"],
                    created=ours,
                )
            )
    for addon in plan.addons:
        try:
            got = find_resource(eks.describe_addon, "addon", clusterName=name, addonName=addon.name)
        except ClientError as err:
            if error_code(err) != "404":  # an emulator without add-ons
                raise
            got = None
        if got is not None:
            found.append(
                AwsResource(
                    kind=ResourceKind.ADDON, name=addon.name, arn=got.get("addonArn"), created=ours
                )
            )
    for profile in plan.fargate_profiles:
        got = find_resource(
            eks.describe_fargate_profile,
            "fargateProfile",
            clusterName=name,
            fargateProfileName=profile.name,
        )
        if got is not None:
            found.append(
                AwsResource(
                    kind=ResourceKind.FARGATE_PROFILE,
                    name=profile.name,
                    arn=got["fargateProfileArn"],
                    created=ours,
                )
            )
    return found
