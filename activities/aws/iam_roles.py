"""IAM roles: read one with everything that defines it, and create a copy of it.

A role is its trust policy, inline policies, attached policies and tags. The copy is tagged
with the restore's id, so a retried step recognises the role an earlier attempt created
and finishes it (putting and attaching policies again is harmless), while a role of the
same name that someone else made is reported, never changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from activities.aws.errors import conflict, error_code
from lifeboat.contracts.aws import (
    AttachedPolicy,
    AwsResource,
    AwsTarget,
    IamRole,
    InlinePolicy,
    ResourceKind,
    RoleSpec,
    RoleUse,
)

RESTORE_TAG = "lifeboat.io/restore"
"""Tag key on everything an EKS restore creates; the value is the restore's id."""

_ACCOUNT_IN_ARN = re.compile(r"::[0-9]{12}:")


def role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _document(raw: Any) -> dict[str, Any]:
    """IAM documents arrive decoded by botocore; a string is a server that skipped that."""
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


def find_role(iam: Any, name: str) -> dict[str, Any] | None:
    try:
        role: dict[str, Any] = iam.get_role(RoleName=name)["Role"]
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return None
        raise
    return role


def read_role(iam: Any, role: dict[str, Any], uses: list[RoleUse]) -> IamRole:
    """A role as `get_role` or `list_roles` describes it, with its policies read too."""
    name = role["RoleName"]
    inline = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            got = iam.get_role_policy(RoleName=name, PolicyName=policy_name)
            inline.append(InlinePolicy(name=policy_name, document=_document(got["PolicyDocument"])))
    attached = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for policy in page["AttachedPolicies"]:
            arn = policy["PolicyArn"]
            document = None if ":iam::aws:policy/" in arn else _policy_document(iam, arn)
            attached.append(AttachedPolicy(arn=arn, name=policy["PolicyName"], document=document))
    tags = role.get("Tags")
    if tags is None:
        tags = iam.list_role_tags(RoleName=name).get("Tags", [])
    boundary = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
    return IamRole(
        arn=role["Arn"],
        name=name,
        path=role.get("Path", "/"),
        description=role.get("Description") or None,
        max_session_duration=role.get("MaxSessionDuration", 3600),
        permissions_boundary=boundary,
        trust_policy=_document(role["AssumeRolePolicyDocument"]),
        inline_policies=inline,
        attached_policies=attached,
        tags=tag_dict(tags),
        uses=uses,
    )


def _policy_document(iam: Any, arn: str) -> dict[str, Any]:
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    got = iam.get_policy_version(PolicyArn=arn, VersionId=version)
    return _document(got["PolicyVersion"]["Document"])


def ensure_role(iam: Any, spec: RoleSpec, target: AwsTarget) -> list[AwsResource]:
    """Create the role (or finish the one an earlier attempt created) with all its policies."""
    source = spec.source
    existing = find_role(iam, spec.name)
    created = existing is None
    if existing is None:
        tags = {**source.tags, RESTORE_TAG: target.restore_id}
        args: dict[str, Any] = {
            "RoleName": spec.name,
            "Path": source.path,
            "AssumeRolePolicyDocument": json.dumps(source.trust_policy),
            "MaxSessionDuration": source.max_session_duration,
            "Tags": tag_list(tags),
        }
        if source.description:
            args["Description"] = source.description
        if source.permissions_boundary:
            args["PermissionsBoundary"] = source.permissions_boundary
        try:
            existing = iam.create_role(**args)["Role"]
        except ClientError as err:
            if error_code(err) != "EntityAlreadyExists":
                raise
            existing = find_role(iam, spec.name)  # a concurrent attempt won
            created = False
    assert existing is not None
    owner = tag_dict(existing.get("Tags") or iam.list_role_tags(RoleName=spec.name)["Tags"])
    if owner.get(RESTORE_TAG) != target.restore_id:
        raise conflict(
            f"IAM role {spec.name} already exists and was not created by this restore; "
            "choose an existing role or another name for the copy of "
            f"{source.name}"
        )
    resources = [
        AwsResource(
            kind=ResourceKind.IAM_ROLE, name=spec.name, arn=existing["Arn"], created=created
        )
    ]
    for policy in source.inline_policies:
        iam.put_role_policy(
            RoleName=spec.name, PolicyName=policy.name, PolicyDocument=json.dumps(policy.document)
        )
    for attached in source.attached_policies:
        arn, made = _ensure_policy(iam, attached, target)
        if made is not None:
            resources.append(made)
        iam.attach_role_policy(RoleName=spec.name, PolicyArn=arn)
    return resources


def _ensure_policy(
    iam: Any, policy: AttachedPolicy, target: AwsTarget
) -> tuple[str, AwsResource | None]:
    """The ARN to attach: AWS-managed as is; customer-managed in the target account, created
    from the backed-up document when the account lacks it."""
    if policy.aws_managed:
        return policy.arn, None
    arn = _ACCOUNT_IN_ARN.sub(f"::{target.link.account_id}:", policy.arn, count=1)
    try:
        iam.get_policy(PolicyArn=arn)
        return arn, None
    except ClientError as err:
        if error_code(err) != "NoSuchEntity" or policy.document is None:
            raise
    path = arn.split(":policy", 1)[1].rsplit("/", 1)[0] + "/"
    try:
        made = iam.create_policy(
            PolicyName=policy.name,
            Path=path,
            PolicyDocument=json.dumps(policy.document),
            Tags=tag_list({RESTORE_TAG: target.restore_id}),
        )["Policy"]
    except ClientError as err:
        if error_code(err) != "EntityAlreadyExists":
            raise
        return arn, AwsResource(
            kind=ResourceKind.IAM_POLICY, name=policy.name, arn=arn, created=False
        )
    return made["Arn"], AwsResource(
        kind=ResourceKind.IAM_POLICY, name=policy.name, arn=made["Arn"], created=True
    )
