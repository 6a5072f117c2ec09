"""The local stack's servers answer as the issue requires: S3, Temporal with its UI and
search attributes, moto; and `up`/`status`/`down` manage exactly their own processes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import boto3
import psutil
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from devstack import stack as devstack
from devstack.info import StackInfo
from devstack.readiness import http_ok
from devstack.services import seaweedfs, temporal


def test_s3_put_and_get_round_trip(stack: StackInfo) -> None:
    s3 = seaweedfs.client(stack.s3)
    key = f"tests/{uuid.uuid4()}"
    body = b"lifeboat " * 1000
    s3.put_object(Bucket=stack.s3.bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=stack.s3.bucket, Key=key)["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=stack.s3.bucket, Prefix="tests/")
    assert key in [o["Key"] for o in listed["Contents"]]


def test_s3_rejects_wrong_credentials(stack: StackInfo) -> None:
    wrong = stack.s3.model_copy(update={"secret_key": "not-the-secret"})
    client = seaweedfs.client(wrong)
    try:
        client.list_objects_v2(Bucket=stack.s3.bucket)
    except client.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}
    else:
        raise AssertionError("SeaweedFS accepted a wrong secret key")


def test_temporal_ui_answers(stack: StackInfo) -> None:
    assert http_ok(stack.temporal.ui_url)


def test_search_attributes_registered(stack: StackInfo) -> None:
    assert temporal.registered_search_attributes(stack.temporal) == {
        "LifeboatCluster": "Keyword",
        "LifeboatJob": "Keyword",
        "LifeboatPolicy": "Keyword",
        "LifeboatRecoveryPoint": "Keyword",
    }


@workflow.defn(sandboxed=False)  # defined in a test module the sandbox cannot re-import
class GreetWorkflow:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"


CLUSTER_KEY = SearchAttributeKey.for_keyword("LifeboatCluster")


async def test_trivial_workflow_with_search_attribute(temporal_client: Client) -> None:
    queue = f"test-{uuid.uuid4()}"
    workflow_id = f"greet-{uuid.uuid4()}"
    async with Worker(temporal_client, task_queue=queue, workflows=[GreetWorkflow]):
        result = await temporal_client.execute_workflow(
            GreetWorkflow.run,
            "lifeboat",
            id=workflow_id,
            task_queue=queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(CLUSTER_KEY, "dev")]),
            execution_timeout=timedelta(seconds=30),
        )
    assert result == "hello lifeboat"
    described = await temporal_client.get_workflow_handle(workflow_id).describe()
    assert described.typed_search_attributes.get(CLUSTER_KEY) == "dev"


def test_moto_serves_iam(stack: StackInfo) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=stack.aws.endpoint,
        region_name=stack.aws.region,
        aws_access_key_id=stack.aws.access_key,
        aws_secret_access_key=stack.aws.secret_key,
    )
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    assert policy["Policy"]["PolicyName"] == "AmazonEKSClusterPolicy"


def test_status_reports_every_service_healthy(stack: StackInfo) -> None:
    report = devstack.status(stack.home)
    assert report.healthy
    names = {s.name for s in report.services}
    assert {"temporal", "seaweedfs", "moto", "kube-dev", "kube-dev2"} <= names
    agents = {"agent-control", "agent-dev", "agent-dev-node-1", "agent-dev-node-2", "agent-dev2"}
    assert agents <= names


def test_up_is_idempotent(stack: StackInfo) -> None:
    before = {s.name: s.pid for s in devstack.status(stack.home).services}
    again = devstack.up(stack.home, clusters=("dev", "dev2"))
    assert again.already_running
    assert again.info == stack
    assert {s.name: s.pid for s in devstack.status(stack.home).services} == before


def test_second_stack_runs_beside_and_down_stops_only_its_own(
    stack: StackInfo, tmp_path: Path
) -> None:
    home = tmp_path / "other-home"
    other = devstack.up(home, clusters=())
    try:
        assert other.info.temporal.address != stack.temporal.address
        assert other.info.s3.endpoint != stack.s3.endpoint
        pids = [s.pid for s in devstack.status(home).services if s.pid]
        assert len(pids) == 4  # three servers and the control worker; no cluster, no agents
    finally:
        stopped = devstack.down(home)
    assert sorted(stopped) == ["agent-control", "moto", "seaweedfs", "temporal"]
    assert not any(psutil.pid_exists(p) and _is_running(p) for p in pids)
    # the session's own stack is untouched
    assert devstack.status(stack.home).healthy


def _is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
