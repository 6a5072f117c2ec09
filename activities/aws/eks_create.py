"""Create the EKS parts of a restore, each step finding what an earlier attempt made.

The cluster carries the restore's tag: a cluster of the requested name without it belongs
to someone else and is reported, never adopted. Node groups, add-ons and Fargate profiles
live inside that cluster, so any found there were made by an earlier attempt of this
restore. Creation calls carry a client request token derived from the restore id, so EKS
itself also treats a repeated call as the same request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from temporalio.exceptions import ApplicationError

from activities.aws.errors import conflict, error_code
from activities.aws.iam_roles import RESTORE_TAG
from lifeboat.contracts.aws import (
    Addon,
    AwsResource,
    AwsTarget,
    ClusterSpec,
    ClusterState,
    FargateProfile,
    NodeGroup,
    ResourceKind,
)

Heartbeat = Callable[[str], None]
_NAMESPACE = uuid.UUID("6f3a4c2e-2f1b-4c55-9a8e-0d4c1e7b9a10")
_NETWORK_FIELDS = ("serviceIpv4Cidr", "ipFamily")
_FAILED = frozenset({"FAILED", "CREATE_FAILED", "DELETING", "DELETE_FAILED", "DEGRADED"})


def request_token(target: AwsTarget, *parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join([target.restore_id, *parts])))


def find_resource(
    call: Callable[..., dict[str, Any]], key: str, **args: Any
) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = call(**args)[key]
    except ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return None
        raise
    return found


def ensure_cluster(eks: Any, spec: ClusterSpec, target: AwsTarget) -> AwsResource:
    found = find_resource(eks.describe_cluster, "cluster", name=spec.name)
    created = found is None
    if found is None:
        args: dict[str, Any] = {
            "name": spec.name,
            "version": spec.version,
            "roleArn": spec.role_arn,
            "resourcesVpcConfig": {
                "subnetIds": spec.vpc.subnet_ids,
                "securityGroupIds": spec.vpc.security_group_ids,
                "endpointPublicAccess": spec.vpc.endpoint_public_access,
                "endpointPrivateAccess": spec.vpc.endpoint_private_access,
                **(
                    {"publicAccessCidrs": spec.vpc.public_access_cidrs}
                    if spec.vpc.public_access_cidrs
                    else {}
                ),
            },
            "tags": {**spec.tags, RESTORE_TAG: target.restore_id},
            "clientRequestToken": request_token(target, "cluster", spec.name),
        }
        network = {k: v for k, v in spec.kubernetes_network_config.items() if k in _NETWORK_FIELDS}
        if network:
            args["kubernetesNetworkConfig"] = network
        if spec.enabled_log_types:
            args["logging"] = {
                "clusterLogging": [{"types": spec.enabled_log_types, "enabled": True}]
            }
        if spec.encryption:
            args["encryptionConfig"] = [
                {"resources": e.resources, "provider": {"keyArn": e.key_arn}}
                for e in spec.encryption
            ]
        try:
            found = eks.create_cluster(**args)["cluster"]
        except ClientError as err:
            if error_code(err) != "ResourceInUseException":
                raise
            found = find_resource(eks.describe_cluster, "cluster", name=spec.name)
            created = False
    assert found is not None
    if found.get("tags", {}).get(RESTORE_TAG) != target.restore_id:
        raise conflict(
            f"EKS cluster {spec.name} already exists and was not created by this restore; "
            "choose another cluster_name"
        )
    return AwsResource(kind=ResourceKind.CLUSTER, name=spec.name, arn=found["arn"], created=created)


def _wait(
    describe: Callable[[], dict[str, Any]],
    what: str,
    beat: Heartbeat,
    timeout: float,
    poll: float,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state = describe()
        status = state.get("status", "")
        beat(f"{what}: {status}")
        if status == "ACTIVE":
            return state
        if status in _FAILED:
            raise ApplicationError(
                f"{what} is {status}: {state.get('health') or 'see the EKS console'}",
                type="AwsResourceFailed",
                non_retryable=True,
            )
        if time.monotonic() > deadline:
            raise ApplicationError(f"{what} not ACTIVE after {timeout:.0f} s (still {status})")
        time.sleep(poll)


def wait_cluster_active(
    eks: Any, name: str, beat: Heartbeat, timeout: float, poll: float
) -> ClusterState:
    found = _wait(
        lambda: eks.describe_cluster(name=name)["cluster"], f"cluster {name}", beat, timeout, poll
    )
    return ClusterState(
        name=name,
        arn=found["arn"],
        status=found["status"],
        oidc_issuer=found.get("identity", {}).get("oidc", {}).get("issuer"),
        endpoint=found.get("endpoint"),
    )


def ensure_node_group(
    eks: Any,
    cluster: str,
    group: NodeGroup,
    target: AwsTarget,
    beat: Heartbeat,
    timeout: float,
    poll: float,
) -> AwsResource:
    find = {"clusterName": cluster, "nodegroupName": group.name}
    found = find_resource(eks.describe_nodegroup, "nodegroup", **find)
    created = found is None
    if found is None:
        args: dict[str, Any] = {
            **find,
            "nodeRole": group.node_role_arn,
            "subnets": group.subnets,
            "scalingConfig": {
                "minSize": group.scaling.min_size,
                "maxSize": group.scaling.max_size,
                "desiredSize": group.scaling.desired_size,
            },
            "labels": group.labels,
            "taints": [t.model_dump(exclude_none=True) for t in group.taints],
            "tags": {**group.tags, RESTORE_TAG: target.restore_id},
            "clientRequestToken": request_token(target, "nodegroup", cluster, group.name),
        }
        if group.launch_template:
            args["launchTemplate"] = {
                k: v for k, v in group.launch_template.items() if k in ("id", "version")
            }
        else:  # these come from the launch template when there is one
            args["instanceTypes"] = group.instance_types
            if group.disk_size:
                args["diskSize"] = group.disk_size
            if group.remote_access:
                args["remoteAccess"] = group.remote_access
        for key, value in (
            ("amiType", group.ami_type),
            ("capacityType", group.capacity_type),
            ("updateConfig", group.update_config),
        ):
            if value:
                args[key] = value
        try:
            eks.create_nodegroup(**args)
        except ClientError as err:
            if error_code(err) != "ResourceInUseException":
                raise
            created = False
    state = _wait(
        lambda: eks.describe_nodegroup(**find)["nodegroup"],
        f"node group {group.name}",
        beat,
        timeout,
        poll,
    )
    return AwsResource(
        kind=ResourceKind.NODE_GROUP, name=group.name, arn=state["nodegroupArn"], created=created
    )


def ensure_addon(eks: Any, cluster: str, addon: Addon, target: AwsTarget) -> AwsResource:
    find = {"clusterName": cluster, "addonName": addon.name}
    found = find_resource(eks.describe_addon, "addon", **find)
    created = found is None
    if found is None:
        args: dict[str, Any] = {
            **find,
            "tags": {**addon.tags, RESTORE_TAG: target.restore_id},
            "resolveConflicts": "OVERWRITE",
            "clientRequestToken": request_token(target, "addon", cluster, addon.name),
        }
        for key, value in (
            ("addonVersion", addon.version),
            ("serviceAccountRoleArn", addon.service_account_role_arn),
            ("configurationValues", addon.configuration_values),
        ):
            if value:
                args[key] = value
        try:
            found = eks.create_addon(**args)["addon"]
        except ClientError as err:
            if error_code(err) != "ResourceInUseException":
                raise
            found = find_resource(eks.describe_addon, "addon", **find)
            created = False
    assert found is not None
    return AwsResource(
        kind=ResourceKind.ADDON, name=addon.name, arn=found.get("addonArn"), created=created
    )


def ensure_fargate_profile(
    eks: Any,
    cluster: str,
    profile: FargateProfile,
    target: AwsTarget,
    beat: Heartbeat,
    timeout: float,
    poll: float,
) -> AwsResource:
    """EKS creates one Fargate profile at a time per cluster, so this waits for ACTIVE."""
    find = {"clusterName": cluster, "fargateProfileName": profile.name}
    found = find_resource(eks.describe_fargate_profile, "fargateProfile", **find)
    created = found is None
    if found is None:
        try:
            eks.create_fargate_profile(
                **find,
                podExecutionRoleArn=profile.pod_execution_role_arn,
                subnets=profile.subnets,
                selectors=[s.model_dump() for s in profile.selectors],
                tags={**profile.tags, RESTORE_TAG: target.restore_id},
                clientRequestToken=request_token(target, "fargate", cluster, profile.name),
            )
        except ClientError as err:
            if error_code(err) != "ResourceInUseException":
                raise
            if find_resource(eks.describe_fargate_profile, "fargateProfile", **find) is None:
                raise  # another profile is being created: retried later by Temporal
            created = False
    state = _wait(
        lambda: eks.describe_fargate_profile(**find)["fargateProfile"],
        f"Fargate profile {profile.name}",
        beat,
        timeout,
        poll,
    )
    return AwsResource(
        kind=ResourceKind.FARGATE_PROFILE,
        name=profile.name,
        arn=state["fargateProfileArn"],
        created=created,
    )
