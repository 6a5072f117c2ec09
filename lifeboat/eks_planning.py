"""Apply an EKS restore request to a captured cluster: the exact list of things to create.

Pure and deterministic, so the restore workflow can call it and the plan can be shown and
tested before anything is created. A request naming a part the backup lacks is an error.
"""

from __future__ import annotations

from lifeboat.contracts.aws import (
    Addon,
    AddonOptions,
    ClusterSpec,
    EksCapture,
    EksRestorePlan,
    EksRestoreRequest,
    ExistingRole,
    FargateProfile,
    FargateProfileOptions,
    IamRole,
    NodeGroup,
    NodeGroupOptions,
    OidcProvider,
    RoleChoice,
    RoleSpec,
)
from lifeboat.models import AwsLink
from lifeboat.models.cluster import aws_partition

ROLE_NAME_MAX = 64


class EksPlanError(ValueError):
    """The request does not fit the backup; the message names every mismatch."""


def target_link(capture: EksCapture, request: EksRestoreRequest) -> AwsLink:
    """Where the new cluster goes: the request's account link, or the backed-up one."""
    link = request.aws or capture.link
    return link.model_copy(update={"eks_cluster_name": request.cluster_name})


def new_role_name(backed_up: str, cluster: str) -> str:
    return f"{backed_up}-{cluster}"[:ROLE_NAME_MAX].rstrip("-")


class _Roles:
    """Resolves role choices to ARNs, collecting the roles to create (each once)."""

    def __init__(self, capture: EksCapture, link: AwsLink, cluster: str) -> None:
        self.capture = capture
        self.link = link
        self.cluster = cluster
        self.specs: dict[str, RoleSpec] = {}
        self.errors: list[str] = []

    def resolve(self, choice: RoleChoice, backed_up_arn: str, what: str) -> str:
        if isinstance(choice, ExistingRole):
            return choice.arn
        source = self.capture.role(backed_up_arn)
        if source is None:
            self.errors.append(
                f"{what}: the backup holds no copy of role {backed_up_arn}; choose an existing role"
            )
            return backed_up_arn
        name = choice.name or new_role_name(source.name, self.cluster)
        known = self.specs.get(name)
        if known is not None and known.source.arn != source.arn:
            self.errors.append(
                f"{what}: role name {name!r} is already used for a copy of {known.source.arn}"
            )
        self.specs[name] = RoleSpec(name=name, source=source)
        return self.arn(source, name)

    def arn(self, source: IamRole, name: str) -> str:
        partition = aws_partition(self.link.region)
        return f"arn:{partition}:iam::{self.link.account_id}:role{source.path}{name}"


def _unknown(errors: list[str], field: str, asked: set[str], known: list[str]) -> None:
    for name in sorted(asked - set(known)):
        errors.append(
            f"{field}: the backup has no {name!r}; it has: {', '.join(sorted(known)) or 'none'}"
        )


def plan_eks_restore(capture: EksCapture, request: EksRestoreRequest) -> EksRestorePlan:
    link = target_link(capture, request)
    cluster_name = request.cluster_name
    roles = _Roles(capture, link, cluster_name)
    errors = roles.errors
    source = capture.cluster

    _unknown(errors, "node_groups", set(request.node_groups), [g.name for g in capture.node_groups])
    _unknown(errors, "addons", set(request.addons), [a.name for a in capture.addons])
    _unknown(
        errors,
        "fargate_profiles",
        set(request.fargate_profiles),
        [p.name for p in capture.fargate_profiles],
    )

    vpc = source.vpc.model_copy(
        update={
            k: v
            for k, v in (
                ("subnet_ids", request.subnet_ids),
                ("security_group_ids", request.security_group_ids),
            )
            if v is not None
        }
    )
    cluster = ClusterSpec(
        name=cluster_name,
        version=request.kubernetes_version or source.version,
        role_arn=roles.resolve(request.cluster_role, source.role_arn, "cluster_role"),
        vpc=vpc,
        kubernetes_network_config=source.kubernetes_network_config,
        enabled_log_types=source.enabled_log_types,
        encryption=source.encryption,
        tags=source.tags,
    )

    node_groups: list[NodeGroup] = []
    for group in capture.node_groups:
        options = request.node_groups.get(group.name, NodeGroupOptions())
        if not options.restore:
            continue
        edits = {
            "node_role_arn": roles.resolve(
                options.node_role, group.node_role_arn, f"node_groups.{group.name}"
            ),
            "instance_types": options.instance_types,
            "scaling": options.scaling,
            "subnets": options.subnets,
            "labels": options.labels,
            "disk_size": options.disk_size,
            "capacity_type": options.capacity_type,
        }
        node_groups.append(group.model_copy(update={k: v for k, v in edits.items() if v}))

    addons: list[Addon] = []
    for addon in capture.addons:
        addon_options = request.addons.get(addon.name, AddonOptions())
        if not addon_options.restore:
            continue
        role = addon.service_account_role_arn
        if role is not None:
            role = roles.resolve(addon_options.role, role, f"addons.{addon.name}")
        addons.append(
            addon.model_copy(
                update={
                    "service_account_role_arn": role,
                    "version": addon_options.version or addon.version,
                }
            )
        )

    profiles: list[FargateProfile] = []
    for profile in capture.fargate_profiles:
        fargate_options = request.fargate_profiles.get(profile.name, FargateProfileOptions())
        if not fargate_options.restore:
            continue
        role = roles.resolve(
            fargate_options.pod_execution_role,
            profile.pod_execution_role_arn,
            f"fargate_profiles.{profile.name}",
        )
        profiles.append(
            profile.model_copy(
                update={
                    "pod_execution_role_arn": role,
                    "subnets": fargate_options.subnets or profile.subnets,
                }
            )
        )

    providers = _oidc_providers(capture, request.oidc_providers, errors)
    if errors:
        raise EksPlanError("; ".join(errors))
    return EksRestorePlan(
        roles=list(roles.specs.values()),
        cluster=cluster,
        oidc_providers=providers,
        node_groups=node_groups,
        addons=addons,
        fargate_profiles=profiles,
        warnings=_trust_warnings(list(roles.specs.values()), capture),
    )


def _oidc_providers(
    capture: EksCapture, asked: list[str] | None, errors: list[str]
) -> list[OidcProvider]:
    if asked is None:
        return list(capture.oidc_providers)
    chosen = [p for p in capture.oidc_providers if p.arn in asked or p.url in asked]
    found = {p.arn for p in chosen} | {p.url for p in chosen}
    _unknown(errors, "oidc_providers", set(asked) - found, [p.arn for p in capture.oidc_providers])
    return chosen


def _trust_warnings(specs: list[RoleSpec], capture: EksCapture) -> list[str]:
    warnings = []
    old_providers = {p.arn for p in capture.oidc_providers}
    for spec in specs:
        trusted = str(spec.source.trust_policy)
        if any(arn in trusted for arn in old_providers) or "oidc-provider/" in trusted:
            warnings.append(
                f"role {spec.name}: its trust policy names the backed-up cluster's OIDC "
                "provider; edit it to trust the new cluster's provider after the restore"
            )
    if specs:
        warnings.append(
            "roles created from the backup keep their backed-up trust policies; check their "
            "trusted principals (accounts, services, OIDC providers) after the restore"
        )
    return warnings
