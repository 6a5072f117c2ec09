"""`lifeboat aws link|status|update` against moto's CloudFormation, and the template's
permissions against what the README documents."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import CliRunner

from devstack.info import StackInfo
from lifeboat.account_link import (
    TEMPLATE,
    TEMPLATE_VERSION,
    VERSION_TAG,
    AccountLink,
    template_version,
)
from lifeboat.cli.main import cli

README = Path(__file__).resolve().parents[3] / "README.md"
PRINCIPAL = "arn:aws:iam::123456789012:role/lifeboat-control"


@pytest.fixture
def aws_env(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> StackInfo:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.aws.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack.aws.secret_key)
    monkeypatch.setenv("LIFEBOAT_CONFIG", str(stack.home / "config.yaml"))
    return stack


def _run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(cli, ["aws", *args, "--region", "us-east-1", "--json"])
    assert result.exit_code == 0, result.output
    loaded: dict[str, object] = json.loads(result.output)
    return loaded


def test_link_creates_the_role_at_the_template_version(aws_env: StackInfo) -> None:
    stack_name = f"link-{uuid.uuid4().hex[:6]}"
    role_name = f"lifeboat-{uuid.uuid4().hex[:6]}"

    linked = _run(
        "link",
        "--stack-name",
        stack_name,
        "--trusted-principal",
        PRINCIPAL,
        "--role-name",
        role_name,
    )

    assert linked["deployed_version"] == linked["template_version"] == "0.1.9"
    assert linked["state"] == "up to date"
    assert str(linked["role_arn"]).endswith(f":role/{role_name}")
    iam: Any = boto3.client(
        "iam",
        endpoint_url=aws_env.aws.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"AWS": PRINCIPAL}
    assert sorted(iam.list_role_policies(RoleName=role_name)["PolicyNames"]) == [
        "lifeboat-eks-backup",
        "lifeboat-eks-restore",
    ]
    assert _run("status", "--stack-name", stack_name)["update_available"] is False


def test_an_outdated_stack_reports_update_available_until_updated(
    aws_env: StackInfo, tmp_path: Path
) -> None:
    stack_name = f"old-link-{uuid.uuid4().hex[:6]}"
    old = tmp_path / "old.yaml"
    old.write_text(
        TEMPLATE.read_text()
        .replace('"0.1.9"', '"0.1.8"')
        .replace("lifeboat-account-link\n", f"old-{stack_name}\n")
    )
    AccountLink(
        "us-east-1", stack_name=stack_name, endpoint_url=aws_env.aws.endpoint, template=old
    ).link(PRINCIPAL)

    before = _run("status", "--stack-name", stack_name)
    human = CliRunner().invoke(
        cli, ["aws", "status", "--region", "us-east-1", "--stack-name", stack_name]
    )
    after = _run("update", "--stack-name", stack_name)

    assert before["deployed_version"] == "0.1.8"
    assert before["state"] == "update available"
    assert "0.1.8 (template 0.1.9): update available" in human.output
    assert after["deployed_version"] == "0.1.9"
    assert after["state"] == "up to date"


def test_status_of_a_missing_stack_says_how_to_link(aws_env: StackInfo) -> None:
    result = CliRunner().invoke(
        cli, ["aws", "status", "--region", "us-east-1", "--stack-name", "never-linked"]
    )
    assert result.exit_code == 1
    assert "lifeboat aws link" in result.output


def test_readme_explains_every_permission_of_the_template() -> None:
    template = yaml.safe_load(TEMPLATE.read_text())
    actions = {
        action
        for policy in template["Resources"]["LinkRole"]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in statement["Action"]
    }
    section = README.read_text().split("### Linking an AWS account", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", section))
    assert actions == documented
    assert template_version(TEMPLATE.read_text()) == TEMPLATE_VERSION == "0.1.9"
    assert template["Outputs"]["TemplateVersion"]["Value"] == TEMPLATE_VERSION
    tags = {t["Key"]: t["Value"] for t in template["Resources"]["LinkRole"]["Properties"]["Tags"]}
    assert tags[VERSION_TAG] == TEMPLATE_VERSION
