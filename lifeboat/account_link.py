"""The AWS account link: a CloudFormation stack holding the role Lifeboat assumes.

The template (`deploy/aws/lifeboat-account-link.yaml`) carries its version in Metadata and
in its outputs; a stack whose output is older than the template is "update available".
These calls run with the operator's own AWS credentials, not the link role's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError
from pydantic import BaseModel

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "aws" / "lifeboat-account-link.yaml"
DEFAULT_STACK = "lifeboat-account-link"
VERSION_OUTPUT = "TemplateVersion"
ROLE_OUTPUT = "RoleArn"
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]
TEMPLATE_VERSION = "0.1.9"
"""The version of `TEMPLATE`, for workers that run without the template file at hand."""
VERSION_TAG = "lifeboat.io/account-link-version"
"""The template tags the link role with its version, so a backup can read it with the
permissions it already has (iam:GetRole) and report a link that needs an update."""


def is_outdated(deployed: str | None, current: str = TEMPLATE_VERSION) -> bool:
    return deployed is None or _version(deployed) < _version(current)


class AccountLinkError(Exception):
    """The stack is missing, failed, or AWS refused; the message says which."""


class LinkStatus(BaseModel):
    stack_name: str
    region: str
    stack_status: str
    deployed_version: str | None
    template_version: str
    role_arn: str | None

    @property
    def update_available(self) -> bool:
        return is_outdated(self.deployed_version, self.template_version)

    @property
    def state(self) -> str:
        return "update available" if self.update_available else "up to date"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def template_body(path: Path = TEMPLATE) -> str:
    return path.read_text()


def template_version(body: str) -> str:
    return str(yaml.safe_load(body)["Metadata"]["Lifeboat"]["Version"])


class AccountLink:
    def __init__(
        self,
        region: str,
        *,
        stack_name: str = DEFAULT_STACK,
        endpoint_url: str | None = None,
        template: Path = TEMPLATE,
    ) -> None:
        self.region = region
        self.stack_name = stack_name
        self.body = template_body(template)
        self.cloudformation: Any = boto3.client(
            "cloudformation", region_name=region, endpoint_url=endpoint_url
        )

    def _wait(self, waiter: str) -> None:
        self.cloudformation.get_waiter(waiter).wait(
            StackName=self.stack_name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )

    def link(self, trusted_principal_arn: str, role_name: str | None = None) -> LinkStatus:
        parameters = [
            {"ParameterKey": "TrustedPrincipalArn", "ParameterValue": trusted_principal_arn}
        ]
        if role_name:
            parameters.append({"ParameterKey": "RoleName", "ParameterValue": role_name})
        self._call(
            "create_stack",
            StackName=self.stack_name,
            TemplateBody=self.body,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            Tags=[{"Key": "lifeboat.io/account-link", "Value": "true"}],
        )
        self._wait("stack_create_complete")
        return self.status()

    def status(self) -> LinkStatus:
        stacks = self._call("describe_stacks", StackName=self.stack_name)["Stacks"]
        stack = stacks[0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return LinkStatus(
            stack_name=self.stack_name,
            region=self.region,
            stack_status=stack["StackStatus"],
            deployed_version=outputs.get(VERSION_OUTPUT),
            template_version=template_version(self.body),
            role_arn=outputs.get(ROLE_OUTPUT),
        )

    def update(self) -> LinkStatus:
        """Bring the stack to this template, keeping its parameters."""
        current = self.status()
        if not current.update_available:
            return current
        stack = self._call("describe_stacks", StackName=self.stack_name)["Stacks"][0]
        self._call(
            "update_stack",
            StackName=self.stack_name,
            TemplateBody=self.body,
            # The deployed values, given explicitly: the template has no NoEcho parameters,
            # and moto fails UsePreviousValue on a parameter that took its default.
            Parameters=[
                {"ParameterKey": p["ParameterKey"], "ParameterValue": p["ParameterValue"]}
                for p in stack.get("Parameters", [])
            ],
            Capabilities=CAPABILITIES,
        )
        self._wait("stack_update_complete")
        return self.status()

    def _call(self, operation: str, **args: Any) -> Any:
        try:
            return getattr(self.cloudformation, operation)(**args)
        except ClientError as err:
            error = err.response.get("Error", {})
            message = f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
            if "does not exist" in message:
                message = (
                    f"no account link stack {self.stack_name!r} in {self.region}; "
                    "create it with `lifeboat aws link`"
                )
            raise AccountLinkError(f"cloudformation:{err.operation_name}: {message}") from None
