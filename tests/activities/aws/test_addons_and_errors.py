"""Add-ons (which moto lacks) and AWS's refusals, through botocore's Stubber on the same
clients and code paths the activities use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber
from temporalio.exceptions import ApplicationError

from activities.aws.capture import capture_addons
from activities.aws.eks_create import ensure_addon
from activities.aws.errors import aws_errors
from activities.aws.iam_roles import RESTORE_TAG, ensure_role
from activities.aws.session import client
from lifeboat.contracts.aws import Addon, AwsTarget, IamRole, RoleSpec
from lifeboat.models import AwsLink

CLUSTER = "prod"
ROLE = "arn:aws:iam::123456789012:role/ebs-csi"
LINK = AwsLink(
    account_id="123456789012",
    region="us-east-1",
    eks_cluster_name="restored",
    role_arn="arn:aws:iam::123456789012:role/lifeboat-link",
)
TARGET = AwsTarget(link=LINK, restore_id="restore-1")
ADDON = {
    "addonName": "aws-ebs-csi-driver",
    "clusterName": CLUSTER,
    "status": "ACTIVE",
    "addonVersion": "v1.30.0-eksbuild.1",
    "addonArn": f"arn:aws:eks:us-east-1:123456789012:addon/{CLUSTER}/aws-ebs-csi-driver/1",
    "serviceAccountRoleArn": ROLE,
    "configurationValues": '{"controller":{"replicaCount":1}}',
    "tags": {"team": "storage"},
}


def _stubbed(service: str) -> tuple[Any, Stubber]:
    session = boto3.session.Session(
        aws_access_key_id="stub", aws_secret_access_key="stub", region_name="us-east-1"
    )
    made = client(session, service)
    return made, Stubber(made)


@pytest.fixture
def eks() -> Iterator[tuple[Any, Stubber]]:
    made, stubber = _stubbed("eks")
    with stubber:
        yield made, stubber
    stubber.assert_no_pending_responses()


def test_capture_reads_every_addon_with_its_role(eks: tuple[Any, Stubber]) -> None:
    client_, stub = eks
    stub.add_response("list_addons", {"addons": ["aws-ebs-csi-driver"]}, {"clusterName": CLUSTER})
    stub.add_response(
        "describe_addon",
        {"addon": ADDON},
        {"clusterName": CLUSTER, "addonName": "aws-ebs-csi-driver"},
    )

    [addon] = capture_addons(client_, CLUSTER, [])

    assert addon == Addon(
        name="aws-ebs-csi-driver",
        version="v1.30.0-eksbuild.1",
        service_account_role_arn=ROLE,
        configuration_values='{"controller":{"replicaCount":1}}',
        tags={"team": "storage"},
    )


def test_ensure_addon_creates_once_then_finds_it(eks: tuple[Any, Stubber]) -> None:
    client_, stub = eks
    addon = Addon(
        name="aws-ebs-csi-driver",
        version="v1.30.0-eksbuild.1",
        service_account_role_arn=ROLE,
        tags={"team": "storage"},
    )
    find = {"clusterName": "restored", "addonName": "aws-ebs-csi-driver"}
    stub.add_client_error("describe_addon", "ResourceNotFoundException", http_status_code=404)
    stub.add_response(
        "create_addon",
        {"addon": ADDON},
        {
            **find,
            "addonVersion": "v1.30.0-eksbuild.1",
            "serviceAccountRoleArn": ROLE,
            "tags": {"team": "storage", RESTORE_TAG: "restore-1"},
            "resolveConflicts": "OVERWRITE",
            "clientRequestToken": ANY,
        },
    )
    stub.add_response("describe_addon", {"addon": ADDON}, find)  # the retried step

    first = ensure_addon(client_, "restored", addon, TARGET)
    second = ensure_addon(client_, "restored", addon, TARGET)

    assert (first.created, second.created) == (True, False)
    assert first.arn == second.arn == ADDON["addonArn"]


def test_access_denied_fails_at_once_naming_the_permission() -> None:
    iam, stub = _stubbed("iam")
    role = IamRole(
        arn=ROLE,
        name="ebs-csi",
        trust_policy={"Version": "2012-10-17", "Statement": []},
    )
    stub.add_client_error("get_role", "NoSuchEntity", http_status_code=404)
    stub.add_client_error(
        "create_role",
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/lifeboat-link/lifeboat is not "
        "authorized to perform: iam:CreateRole",
        http_status_code=403,
    )

    with stub, pytest.raises(ApplicationError) as raised, aws_errors():
        ensure_role(iam, RoleSpec(name="ebs-csi-restored", source=role), TARGET)

    assert raised.value.non_retryable
    assert raised.value.type == "AccessDenied"
    assert "lacks iam:CreateRole" in raised.value.message


def test_invalid_request_is_not_retried_and_throttling_is() -> None:
    eks_client, stub = _stubbed("eks")
    addon = Addon(name="vpc-cni")
    stub.add_client_error("describe_addon", "InvalidParameterException", "no such version")
    with stub, pytest.raises(ApplicationError) as raised, aws_errors():
        ensure_addon(eks_client, "restored", addon, TARGET)
    assert raised.value.non_retryable
    assert "eks:DescribeAddon" in raised.value.message

    eks_client, stub = _stubbed("eks")
    stub.add_client_error("describe_addon", "ThrottlingException", http_status_code=400)
    with stub, pytest.raises(ClientError), aws_errors():  # left to Temporal's retry policy
        ensure_addon(eks_client, "restored", addon, TARGET)
