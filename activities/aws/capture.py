"""Read an EKS cluster's AWS configuration: cluster, node groups, add-ons, Fargate profiles,
the OIDC providers of its issuer, and every IAM role those use.

Roles are found from the cluster's own references (cluster role, node roles, add-on
service account roles, Fargate pod execution roles) and, for the pods that call AWS, from
IAM: every role whose trust policy federates the cluster's OIDC provider (IRSA). The one
trusted by `kube-system:aws-load-balancer-controller` is the load balancer controller's;
without one, a role named `AmazonEKSLoadBalancerControllerRole` (the name AWS's guide
uses) is taken as the controller's. Annotations on service accounts are Kubernetes
objects and are backed up with them.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from activities.aws.errors import error_code
from activities.aws.iam_roles import find_role, read_role, role_name, tag_dict
from lifeboat.contracts.aws import (
    LOAD_BALANCER_CONTROLLER_ROLE_NAME,
    LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT,
    Addon,
    EksCapture,
    EksClusterConfig,
    EncryptionConfig,
    FargateProfile,
    FargateSelector,
    IamRole,
    NodeGroup,
    OidcProvider,
    RoleUse,
    ScalingConfig,
    Taint,
    VpcConfig,
)
from lifeboat.models import AwsLink

_NOT_IMPLEMENTED = "404"
"""What an AWS emulator without the operation answers (moto for the add-on APIs)."""


def capture_cluster(eks: Any, iam: Any, link: AwsLink) -> EksCapture:
    name = link.eks_cluster_name
    cluster = cluster_config(eks.describe_cluster(name=name)["cluster"])
    warnings: list[str] = []
    node_groups = [
        node_group(eks.describe_nodegroup(clusterName=name, nodegroupName=n)["nodegroup"])
        for n in _listed(eks, "list_nodegroups", "nodegroups", clusterName=name)
    ]
    addons = capture_addons(eks, name, warnings)
    profiles = [
        fargate_profile(
            eks.describe_fargate_profile(clusterName=name, fargateProfileName=n)["fargateProfile"]
        )
        for n in _listed(eks, "list_fargate_profiles", "fargateProfileNames", clusterName=name)
    ]
    providers = oidc_providers(iam, cluster.oidc_issuer)
    uses: dict[str, list[RoleUse]] = {}
    for arn, use in [
        (cluster.role_arn, RoleUse.CLUSTER),
        *((g.node_role_arn, RoleUse.NODE_GROUP) for g in node_groups),
        *((a.service_account_role_arn, RoleUse.ADDON) for a in addons),
        *((p.pod_execution_role_arn, RoleUse.FARGATE) for p in profiles),
    ]:
        if arn and use not in uses.setdefault(arn, []):
            uses[arn].append(use)
    roles = [r for arn, u in uses.items() if (r := _read(iam, arn, u, warnings)) is not None]
    roles += service_account_roles(iam, providers, set(uses))
    if not any(RoleUse.LOAD_BALANCER_CONTROLLER in r.uses for r in roles):
        found = find_role(iam, LOAD_BALANCER_CONTROLLER_ROLE_NAME)
        if found is not None and found["Arn"] not in uses:
            roles.append(read_role(iam, found, [RoleUse.LOAD_BALANCER_CONTROLLER]))
    return EksCapture(
        account_id=link.account_id,
        region=link.region,
        link=link,
        cluster=cluster,
        node_groups=node_groups,
        addons=addons,
        fargate_profiles=profiles,
        oidc_providers=providers,
        roles=roles,
        warnings=warnings,
    )


def _listed(client: Any, operation: str, key: str, **args: Any) -> list[str]:
    return [n for page in client.get_paginator(operation).paginate(**args) for n in page[key]]


def _read(iam: Any, arn: str, uses: list[RoleUse], warnings: list[str]) -> IamRole | None:
    found = find_role(iam, role_name(arn))
    if found is None or found["Arn"] != arn:
        warnings.append(f"role {arn} ({', '.join(uses)}) no longer exists; it is not backed up")
        return None
    return read_role(iam, found, uses)


def cluster_config(raw: dict[str, Any]) -> EksClusterConfig:
    vpc = raw.get("resourcesVpcConfig", {})
    logging = raw.get("logging", {}).get("clusterLogging", [])
    return EksClusterConfig(
        name=raw["name"],
        arn=raw["arn"],
        version=raw["version"],
        role_arn=raw["roleArn"],
        vpc=VpcConfig(
            subnet_ids=vpc.get("subnetIds", []),
            security_group_ids=vpc.get("securityGroupIds", []),
            endpoint_public_access=vpc.get("endpointPublicAccess", True),
            endpoint_private_access=vpc.get("endpointPrivateAccess", False),
            public_access_cidrs=vpc.get("publicAccessCidrs", []),
        ),
        kubernetes_network_config=raw.get("kubernetesNetworkConfig", {}),
        enabled_log_types=sorted(
            {t for entry in logging if entry.get("enabled") for t in entry.get("types", [])}
        ),
        encryption=[
            EncryptionConfig(resources=e["resources"], key_arn=e["provider"]["keyArn"])
            for e in raw.get("encryptionConfig", [])
        ],
        tags=raw.get("tags", {}),
        oidc_issuer=raw.get("identity", {}).get("oidc", {}).get("issuer"),
        platform_version=raw.get("platformVersion"),
    )


def node_group(raw: dict[str, Any]) -> NodeGroup:
    scaling = raw.get("scalingConfig", {})
    return NodeGroup(
        name=raw["nodegroupName"],
        node_role_arn=raw["nodeRole"],
        subnets=raw.get("subnets", []),
        scaling=ScalingConfig(
            min_size=scaling.get("minSize", 1),
            max_size=scaling.get("maxSize", 1),
            desired_size=scaling.get("desiredSize", 1),
        ),
        instance_types=raw.get("instanceTypes") or [],
        ami_type=raw.get("amiType"),
        capacity_type=raw.get("capacityType"),
        disk_size=raw.get("diskSize"),
        labels=raw.get("labels") or {},
        taints=[Taint(**t) for t in raw.get("taints") or []],
        tags=raw.get("tags") or {},
        launch_template=raw.get("launchTemplate"),
        remote_access=raw.get("remoteAccess"),
        update_config=raw.get("updateConfig"),
    )


def capture_addons(eks: Any, cluster: str, warnings: list[str]) -> list[Addon]:
    try:
        names = _listed(eks, "list_addons", "addons", clusterName=cluster)
    except ClientError as err:
        if error_code(err) != _NOT_IMPLEMENTED:
            raise
        warnings.append("the EKS endpoint does not implement add-ons; none are backed up")
        return []
    return [addon(eks.describe_addon(clusterName=cluster, addonName=n)["addon"]) for n in names]


def addon(raw: dict[str, Any]) -> Addon:
    return Addon(
        name=raw["addonName"],
        version=raw.get("addonVersion"),
        service_account_role_arn=raw.get("serviceAccountRoleArn"),
        configuration_values=raw.get("configurationValues") or None,
        tags=raw.get("tags") or {},
    )


def fargate_profile(raw: dict[str, Any]) -> FargateProfile:
    return FargateProfile(
        name=raw["fargateProfileName"],
        pod_execution_role_arn=raw["podExecutionRoleArn"],
        subnets=raw.get("subnets", []),
        selectors=[
            FargateSelector(namespace=s["namespace"], labels=s.get("labels") or {})
            for s in raw.get("selectors", [])
        ],
        tags=raw.get("tags") or {},
    )


def issuer_url(issuer: str) -> str:
    """IAM's form of an issuer: no scheme, no trailing slash."""
    return issuer.removeprefix("https://").rstrip("/")


def oidc_providers(iam: Any, issuer: str | None) -> list[OidcProvider]:
    if issuer is None:
        return []
    url = issuer_url(issuer)
    found = []
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        arn = entry["Arn"]
        if not arn.endswith(f":oidc-provider/{url}"):
            continue
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        found.append(
            OidcProvider(
                arn=arn,
                url=issuer_url(got["Url"]),
                client_ids=got.get("ClientIDList", []),
                thumbprints=got.get("ThumbprintList", []),
                tags=tag_dict(got.get("Tags")),
            )
        )
    return found


def service_account_roles(
    iam: Any, providers: list[OidcProvider], known: set[str]
) -> list[IamRole]:
    """Roles that pods of the cluster assume through its OIDC provider (IRSA)."""
    if not providers:
        return []
    arns = {p.arn for p in providers}
    roles = []
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            if role["Arn"] in known:
                continue
            trust = str(role.get("AssumeRolePolicyDocument", ""))
            if not any(arn in trust for arn in arns):
                continue
            full = find_role(iam, role["RoleName"]) or role
            use = (
                RoleUse.LOAD_BALANCER_CONTROLLER
                if LOAD_BALANCER_CONTROLLER_SERVICE_ACCOUNT in trust
                else RoleUse.SERVICE_ACCOUNT
            )
            roles.append(read_role(iam, full, [use]))
    return roles
