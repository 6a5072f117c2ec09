"""An EKS cluster's AWS configuration as backed up, and the requests and results of restoring it.

The captured models mirror the EKS and IAM APIs closely (names in snake_case), so a restore
can hand them back to the same APIs; a field the API may omit is optional here too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from lifeboat.contracts.restore_run import RestoreRunResult
from lifeboat.models import (
    AwsLink,
    DnsLabel,
    LifeboatModel,
    RecoveryPoint,
    RecoveryPointId,
    RestoreRequest,
    StorageLocation,
)
from lifeboat.models.cluster import EksClusterName, RoleArn
from lifeboat.models.common import DEFAULT_STORAGE_LOCATION
from lifeboat.models.errors import FieldErrors
from lifeboat.models.recovery_point import RepositorySnapshotId

PolicyDocument = dict[str, Any]
"""An IAM policy document as JSON (boto3 decodes IAM's URL-encoded documents)."""

LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT = (
    "system:serviceaccount:kube-system:aws-load-balancer-controller"
)
"""The service account the AWS Load Balancer Controller runs as (its Helm chart default)."""

LOAD_BALANCER_CONTROLLER_ROLE_NAME = "AmazonEKSLoadBalancerControllerRole"
"""The role name the AWS documentation uses for the controller, found when no IRSA role is."""

# -- what a backup captures ------------------------------------------------------------------


class InlinePolicy(LifeboatModel):
    name: str
    document: PolicyDocument


class AttachedPolicy(LifeboatModel):
    arn: str
    name: str
    document: PolicyDocument | None = None
    """The default version's document of a customer-managed policy, so a restore into an
    account without it can create it; none for AWS-managed policies."""

    @property
    def aws_managed(self) -> bool:
        return ":iam::aws:policy/" in self.arn


class RoleUse(StrEnum):
    CLUSTER = "cluster"
    NODE_GROUP = "node-group"
    ADDON = "addon"
    FARGATE = "fargate-pod-execution"
    LOAD_BALANCER_CONTROLLER = "load-balancer-controller"
    SERVICE_ACCOUNT = "service-account"
    """Any other role that trusts the cluster's OIDC provider (IRSA)."""


class IamRole(LifeboatModel):
    arn: str
    name: str
    path: str = "/"
    description: str | None = None
    max_session_duration: int = 3600
    permissions_boundary: str | None = None
    trust_policy: PolicyDocument
    inline_policies: list[InlinePolicy] = []
    attached_policies: list[AttachedPolicy] = []
    tags: dict[str, str] = {}
    uses: list[RoleUse] = []
    """Why the capture holds it; a role can serve several parts of the cluster."""


class VpcConfig(LifeboatModel):
    subnet_ids: list[str]
    security_group_ids: list[str] = []
    endpoint_public_access: bool = True
    endpoint_private_access: bool = False
    public_access_cidrs: list[str] = []


class EncryptionConfig(LifeboatModel):
    resources: list[str]
    key_arn: str


class EksClusterConfig(LifeboatModel):
    name: str
    arn: str
    version: str
    role_arn: str
    vpc: VpcConfig
    kubernetes_network_config: dict[str, Any] = {}
    """serviceIpv4Cidr, ipFamily, ... as EKS reports them."""
    enabled_log_types: list[str] = []
    encryption: list[EncryptionConfig] = []
    tags: dict[str, str] = {}
    oidc_issuer: str | None = None
    platform_version: str | None = None


class ScalingConfig(LifeboatModel):
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    desired_size: int = Field(ge=0)


class Taint(LifeboatModel):
    key: str
    value: str | None = None
    effect: str


class NodeGroup(LifeboatModel):
    name: str
    node_role_arn: str
    subnets: list[str]
    scaling: ScalingConfig
    instance_types: list[str] = []
    ami_type: str | None = None
    capacity_type: str | None = None
    disk_size: int | None = None
    labels: dict[str, str] = {}
    taints: list[Taint] = []
    tags: dict[str, str] = {}
    launch_template: dict[str, Any] | None = None
    remote_access: dict[str, Any] | None = None
    update_config: dict[str, Any] | None = None


class Addon(LifeboatModel):
    name: str
    version: str | None = None
    service_account_role_arn: str | None = None
    configuration_values: str | None = None
    tags: dict[str, str] = {}


class FargateSelector(LifeboatModel):
    namespace: str
    labels: dict[str, str] = {}


class FargateProfile(LifeboatModel):
    name: str
    pod_execution_role_arn: str
    subnets: list[str] = []
    selectors: list[FargateSelector]
    tags: dict[str, str] = {}


class OidcProvider(LifeboatModel):
    arn: str
    url: str
    """Without the scheme, as IAM keeps it: ``oidc.eks.<region>.amazonaws.com/id/<id>``."""
    client_ids: list[str] = []
    thumbprints: list[str] = []
    tags: dict[str, str] = {}


class EksCapture(LifeboatModel):
    """Everything an EKS restore needs, stored beside the cluster's Kubernetes objects."""

    format: Literal[1] = 1
    account_id: str
    region: str
    link: AwsLink
    cluster: EksClusterConfig
    node_groups: list[NodeGroup] = []
    addons: list[Addon] = []
    fargate_profiles: list[FargateProfile] = []
    oidc_providers: list[OidcProvider] = []
    roles: list[IamRole] = []
    warnings: list[str] = []

    def role(self, arn: str) -> IamRole | None:
        return next((r for r in self.roles if r.arn == arn), None)


class CaptureSummary(LifeboatModel):
    cluster: str
    version: str
    node_groups: list[str]
    addons: list[str]
    fargate_profiles: list[str]
    oidc_providers: list[str]
    roles: list[str]
    link_version: str | None = None
    """The account link template version the link role carries (its version tag)."""
    link_update_available: bool = False
    warnings: list[str] = []


class CaptureEksInput(LifeboatModel):
    aws: AwsLink
    storage_location: StorageLocation
    recovery_point: RecoveryPointId
    cluster: DnsLabel
    """Lifeboat's name of the cluster, for the repository snapshot's tags."""


class CaptureEksResult(LifeboatModel):
    snapshot_id: RepositorySnapshotId
    summary: CaptureSummary


# -- the restore request ---------------------------------------------------------------------


class ExistingRole(LifeboatModel):
    """Use a role that exists in the target account, as it is."""

    kind: Literal["existing"] = "existing"
    arn: RoleArn


class RoleFromBackup(LifeboatModel):
    """Create a new IAM role from the backed-up one: its trust policy, inline and attached
    policies and tags. Its trust principal may need editing after the restore (an IRSA role
    trusts the old cluster's OIDC provider)."""

    kind: Literal["from_backup"] = "from_backup"
    name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")
    """The new role's name; ``<backed-up name>-<new cluster name>`` (cut to 64) by default."""


RoleChoice = Annotated[ExistingRole | RoleFromBackup, Field(discriminator="kind")]


class NodeGroupOptions(LifeboatModel):
    """A backed-up node group: restore it as it was, edited, or not at all."""

    restore: bool = True
    node_role: RoleChoice = RoleFromBackup()
    instance_types: list[str] | None = None
    scaling: ScalingConfig | None = None
    subnets: list[str] | None = None
    labels: dict[str, str] | None = None
    disk_size: int | None = Field(default=None, ge=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"] | None = None


class AddonOptions(LifeboatModel):
    restore: bool = True
    role: RoleChoice = RoleFromBackup()
    """The add-on's service account role, when it had one."""
    version: str | None = None


class FargateProfileOptions(LifeboatModel):
    restore: bool = True
    """False removes the profile from the restore."""
    pod_execution_role: RoleChoice = RoleFromBackup()
    subnets: list[str] | None = None


class EksClusterOptions(LifeboatModel):
    """The new EKS cluster made from a backed-up one: what an EKS restore, and a migration
    or replication whose target is a new EKS cluster, may change.

    Every backed-up part is restored as it was unless an option here says otherwise;
    node groups, add-ons and Fargate profiles are keyed by their backed-up names.
    """

    cluster_name: EksClusterName
    """The new EKS cluster's name."""
    aws: AwsLink | None = None
    """The account, region and role to create the cluster with; the backed-up cluster's link
    when not given (its ``eks_cluster_name`` is ignored: ``cluster_name`` is the new name)."""
    kubernetes_version: str | None = None
    subnet_ids: list[str] | None = None
    security_group_ids: list[str] | None = None
    cluster_role: RoleChoice = RoleFromBackup()
    node_groups: dict[str, NodeGroupOptions] = {}
    addons: dict[str, AddonOptions] = {}
    fargate_profiles: dict[str, FargateProfileOptions] = {}
    oidc_providers: list[str] | None = None
    """Backed-up OIDC provider ARNs or URLs whose settings (client ids, thumbprints, tags) are
    used to associate an IAM OIDC provider with the new cluster; all of them when not given."""


class EksRestoreRequest(EksClusterOptions):
    """Input of the EKS restore workflow: a new EKS cluster from a recovery point."""

    recovery_point: RecoveryPointId
    storage_location: DnsLabel = DEFAULT_STORAGE_LOCATION
    restore_id: str | None = Field(default=None, max_length=256, pattern=r"^[A-Za-z0-9_.=+@:/-]+$")
    """Tagged on what the restore creates, so a later attempt recognises it as its own; the
    workflow id when not given. A replication passes its own name, so each of its runs
    finds the cluster its first run created."""
    kubernetes: RestoreRequest | None = None
    """The Kubernetes restore run into the new cluster afterwards; its ``target_cluster`` must
    name the new cluster as configured in Lifeboat."""

    @model_validator(mode="after")
    def _kubernetes_restore_matches(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.kubernetes is not None:
            if self.kubernetes.recovery_point != self.recovery_point:
                errors.add(
                    ("kubernetes", "recovery_point"),
                    "eks_restore",
                    f"{self.kubernetes.recovery_point!r} differs from recovery_point "
                    f"{self.recovery_point!r}",
                    self.kubernetes.recovery_point,
                )
            if self.kubernetes.target_cluster is None:
                errors.add(
                    ("kubernetes", "target_cluster"),
                    "eks_restore",
                    "is required: the Lifeboat name of the new cluster",
                    None,
                )
        errors.raise_if_any()
        return self


# -- the planned steps and their activities --------------------------------------------------


class AwsTarget(LifeboatModel):
    """Where a restore creates things, and the tag that marks them as this restore's."""

    link: AwsLink
    restore_id: str
    """Tagged on everything created, so a retried step recognises what an earlier made."""


class RoleSpec(LifeboatModel):
    """A role the restore creates from a backed-up one."""

    name: str
    source: IamRole


class ClusterSpec(LifeboatModel):
    name: str
    version: str
    role_arn: str
    vpc: VpcConfig
    kubernetes_network_config: dict[str, Any] = {}
    enabled_log_types: list[str] = []
    encryption: list[EncryptionConfig] = []
    tags: dict[str, str] = {}


class EksRestorePlan(LifeboatModel):
    """The request applied to the capture: exactly what the restore will create."""

    roles: list[RoleSpec]
    cluster: ClusterSpec
    oidc_providers: list[OidcProvider]
    node_groups: list[NodeGroup]
    addons: list[Addon]
    fargate_profiles: list[FargateProfile]
    warnings: list[str] = []


class PrepareEksRestoreInput(LifeboatModel):
    request: EksRestoreRequest


class EksRestoreContext(LifeboatModel):
    recovery_point: RecoveryPoint
    capture: EksCapture
    kubernetes_target_configured: bool
    """Whether the Kubernetes restore's target cluster is in Lifeboat's configuration."""


class EnsureRoleInput(LifeboatModel):
    target: AwsTarget
    role: RoleSpec


class EnsureClusterInput(LifeboatModel):
    target: AwsTarget
    cluster: ClusterSpec


class WaitClusterInput(LifeboatModel):
    target: AwsTarget
    cluster: str
    timeout_seconds: float = 1800.0
    poll_seconds: float = 15.0


class ClusterState(LifeboatModel):
    name: str
    arn: str
    status: str
    oidc_issuer: str | None = None
    endpoint: str | None = None


class EnsureOidcProviderInput(LifeboatModel):
    target: AwsTarget
    issuer: str
    """The new cluster's issuer URL."""
    source: OidcProvider


class EnsureNodeGroupInput(LifeboatModel):
    target: AwsTarget
    cluster: str
    node_group: NodeGroup
    poll_seconds: float = 15.0


class EnsureAddonInput(LifeboatModel):
    target: AwsTarget
    cluster: str
    addon: Addon


class EnsureFargateProfileInput(LifeboatModel):
    target: AwsTarget
    cluster: str
    profile: FargateProfile
    poll_seconds: float = 15.0


class ResourceKind(StrEnum):
    IAM_ROLE = "iam-role"
    IAM_POLICY = "iam-policy"
    CLUSTER = "cluster"
    OIDC_PROVIDER = "oidc-provider"
    NODE_GROUP = "node-group"
    ADDON = "addon"
    FARGATE_PROFILE = "fargate-profile"


class AwsResource(LifeboatModel):
    kind: ResourceKind
    name: str
    arn: str | None = None
    created: bool
    """False when an earlier attempt (or the account) already had it."""


class EnsureResult(LifeboatModel):
    resources: list[AwsResource]
    warnings: list[str] = []


class SurveyInput(LifeboatModel):
    target: AwsTarget
    plan: EksRestorePlan


class EksRestoreStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    """A step failed; ``existing`` lists what the restore left in the account."""
    KUBERNETES_FAILED = "KubernetesFailed"
    """The EKS cluster is complete; the Kubernetes restore into it failed."""


class EksRestoreResult(LifeboatModel):
    workflow_id: str
    recovery_point: str
    cluster_name: str
    status: EksRestoreStatus
    resources: list[AwsResource] = []
    """What the completed steps created or found."""
    existing: list[AwsResource] | None = None
    """After a failure: every planned resource that exists in the account now."""
    step: str | None = None
    """The step running now, or the one that failed."""
    error: str | None = None
    warnings: list[str] = []
    kubernetes: RestoreRunResult | None = None
    """The Kubernetes restore's result, when it ran."""
    kubernetes_note: str | None = None
    """Why the Kubernetes restore did not run."""
