"""Associate an IAM OIDC provider with a new cluster's issuer, settings from a backed-up one.

The provider's URL is the new cluster's issuer, unique to that cluster, so one found with
that URL is the one an earlier attempt created.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from activities.aws.capture import issuer_url
from activities.aws.errors import error_code
from activities.aws.iam_roles import RESTORE_TAG, tag_list
from lifeboat.contracts.aws import AwsResource, AwsTarget, OidcProvider, ResourceKind


def find_provider(iam: Any, issuer: str) -> str | None:
    url = issuer_url(issuer)
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        if entry["Arn"].endswith(f":oidc-provider/{url}"):
            return str(entry["Arn"])
    return None


def ensure_oidc_provider(
    iam: Any, issuer: str, source: OidcProvider, target: AwsTarget
) -> AwsResource:
    url = issuer_url(issuer)
    arn = find_provider(iam, issuer)
    created = arn is None
    if arn is None:
        try:
            arn = iam.create_open_id_connect_provider(
                Url=f"https://{url}",
                ClientIDList=source.client_ids,
                ThumbprintList=source.thumbprints,
                Tags=tag_list({**source.tags, RESTORE_TAG: target.restore_id}),
            )["OpenIDConnectProviderArn"]
        except ClientError as err:
            if error_code(err) != "EntityAlreadyExists":
                raise
            arn = find_provider(iam, issuer)
            created = False
    return AwsResource(kind=ResourceKind.OIDC_PROVIDER, name=url, arn=arn, created=created)
