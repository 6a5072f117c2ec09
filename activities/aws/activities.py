"""The control worker's AWS activities: capture an EKS cluster, and the EKS restore's steps.

Each activity assumes the account link's role afresh (credentials expire; activities may
run hours apart), and runs inside `aws_errors()`, so missing permissions and invalid
requests fail at once while throttling and outages are retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.aws.capture import capture_cluster
from activities.aws.eks_create import (
    ensure_addon,
    ensure_cluster,
    ensure_fargate_profile,
    ensure_node_group,
    wait_cluster_active,
)
from activities.aws.errors import aws_errors, invalid
from activities.aws.iam_roles import ensure_role, find_role, role_name, tag_dict
from activities.aws.oidc import ensure_oidc_provider
from activities.aws.session import LinkedAccount
from activities.aws.survey import survey
from activities.catalog import find_recovery_point
from activities.repository import open_repository
from activities.tags import SnapshotKind, snapshot_tags
from datamover.documents import load_document, save_documents
from lifeboat.account_link import TEMPLATE_VERSION, VERSION_TAG, is_outdated
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.aws import (
    AwsResource,
    CaptureEksInput,
    CaptureEksResult,
    CaptureSummary,
    ClusterState,
    EksCapture,
    EksRestoreContext,
    EnsureAddonInput,
    EnsureClusterInput,
    EnsureFargateProfileInput,
    EnsureNodeGroupInput,
    EnsureOidcProviderInput,
    EnsureResult,
    EnsureRoleInput,
    PrepareEksRestoreInput,
    SurveyInput,
    WaitClusterInput,
)
from lifeboat.models import AwsLink

CAPTURE_DOCUMENT = "eks.json"
NODE_GROUP_TIMEOUT = 1800.0
FARGATE_TIMEOUT = 900.0


def _beat(details: str) -> None:
    activity.heartbeat(details)


class AwsActivities:
    def __init__(self, config: LifeboatConfig) -> None:
        self.config = config
        self.endpoint_url = config.aws_endpoint_url

    def all(self) -> list[Callable[..., object]]:
        return [
            self.capture_eks,
            self.prepare_eks_restore,
            self.ensure_role,
            self.ensure_cluster,
            self.wait_cluster_active,
            self.ensure_oidc_provider,
            self.ensure_node_group,
            self.ensure_addon,
            self.ensure_fargate_profile,
            self.survey,
        ]

    def _account(self, link: AwsLink) -> LinkedAccount:
        return LinkedAccount(link, self.endpoint_url)

    @activity.defn(name="aws.capture_eks")
    def capture_eks(self, inp: CaptureEksInput) -> CaptureEksResult:
        with aws_errors():
            account = self._account(inp.aws)
            capture = capture_cluster(account.eks, account.iam, inp.aws)
            version = link_version(account.iam, inp.aws)
        with open_repository(inp.storage_location, create=True) as repo:
            snapshot_id = save_documents(
                repo,
                {CAPTURE_DOCUMENT: capture.model_dump_json(indent=2).encode()},
                path=f"/lifeboat/aws/{inp.recovery_point}",
                hostname=inp.cluster,
                tags=snapshot_tags(
                    SnapshotKind.AWS, recovery_point=inp.recovery_point, cluster=inp.cluster
                ),
            )
        return CaptureEksResult(snapshot_id=snapshot_id, summary=summarize(capture, version))

    @activity.defn(name="aws.prepare_eks_restore")
    def prepare_eks_restore(self, inp: PrepareEksRestoreInput) -> EksRestoreContext:
        request = inp.request
        try:
            location = self.config.storage_location(request.storage_location)
        except KeyError as exc:
            raise invalid(str(exc.args[0])) from None
        with open_repository(location) as repo:
            rp = find_recovery_point(repo, request.recovery_point)
            if rp.aws_snapshot_id is None:
                raise invalid(
                    f"recovery_point: {rp.id!r} holds no EKS configuration; its cluster "
                    f"{rp.cluster!r} was not linked to an AWS account when it was backed up"
                )
            raw = load_document(repo, rp.aws_snapshot_id, CAPTURE_DOCUMENT)
        target = request.kubernetes.target_cluster if request.kubernetes else None
        return EksRestoreContext(
            recovery_point=rp,
            capture=EksCapture.model_validate_json(raw),
            kubernetes_target_configured=target is not None and target in self.config.clusters,
        )

    @activity.defn(name="aws.ensure_role")
    def ensure_role(self, inp: EnsureRoleInput) -> EnsureResult:
        with aws_errors():
            iam = self._account(inp.target.link).iam
            return EnsureResult(resources=ensure_role(iam, inp.role, inp.target))

    @activity.defn(name="aws.ensure_cluster")
    def ensure_cluster(self, inp: EnsureClusterInput) -> AwsResource:
        with aws_errors():
            eks = self._account(inp.target.link).eks
            return ensure_cluster(eks, inp.cluster, inp.target)

    @activity.defn(name="aws.wait_cluster_active")
    def wait_cluster_active(self, inp: WaitClusterInput) -> ClusterState:
        with aws_errors():
            eks = self._account(inp.target.link).eks
            return wait_cluster_active(
                eks, inp.cluster, _beat, inp.timeout_seconds, inp.poll_seconds
            )

    @activity.defn(name="aws.ensure_oidc_provider")
    def ensure_oidc_provider(self, inp: EnsureOidcProviderInput) -> AwsResource:
        with aws_errors():
            iam = self._account(inp.target.link).iam
            return ensure_oidc_provider(iam, inp.issuer, inp.source, inp.target)

    @activity.defn(name="aws.ensure_node_group")
    def ensure_node_group(self, inp: EnsureNodeGroupInput) -> AwsResource:
        with aws_errors():
            eks = self._account(inp.target.link).eks
            return ensure_node_group(
                eks,
                inp.cluster,
                inp.node_group,
                inp.target,
                _beat,
                NODE_GROUP_TIMEOUT,
                inp.poll_seconds,
            )

    @activity.defn(name="aws.ensure_addon")
    def ensure_addon(self, inp: EnsureAddonInput) -> AwsResource:
        with aws_errors():
            eks = self._account(inp.target.link).eks
            return ensure_addon(eks, inp.cluster, inp.addon, inp.target)

    @activity.defn(name="aws.ensure_fargate_profile")
    def ensure_fargate_profile(self, inp: EnsureFargateProfileInput) -> AwsResource:
        with aws_errors():
            eks = self._account(inp.target.link).eks
            return ensure_fargate_profile(
                eks, inp.cluster, inp.profile, inp.target, _beat, FARGATE_TIMEOUT, inp.poll_seconds
            )

    @activity.defn(name="aws.survey")
    def survey(self, inp: SurveyInput) -> list[AwsResource]:
        with aws_errors():
            account = self._account(inp.target.link)
            return survey(account.eks, account.iam, inp.plan, inp.target)


def link_version(iam: Any, link: AwsLink) -> str | None:
    role = find_role(iam, role_name(link.role_arn))
    tags = tag_dict(role.get("Tags")) if role else {}
    return tags.get(VERSION_TAG)


def summarize(capture: EksCapture, version: str | None) -> CaptureSummary:
    warnings = list(capture.warnings)
    outdated = is_outdated(version)
    if outdated:
        warnings.append(
            f"AWS account link of {capture.account_id} is at version {version or 'unknown'}, "
            f"older than this Lifeboat's {TEMPLATE_VERSION}: update available "
            "(`lifeboat aws update`)"
        )
    return CaptureSummary(
        cluster=capture.cluster.name,
        version=capture.cluster.version,
        node_groups=[g.name for g in capture.node_groups],
        addons=[a.name for a in capture.addons],
        fargate_profiles=[p.name for p in capture.fargate_profiles],
        oidc_providers=[p.arn for p in capture.oidc_providers],
        roles=[r.arn for r in capture.roles],
        link_version=version,
        link_update_available=outdated,
        warnings=warnings,
    )
