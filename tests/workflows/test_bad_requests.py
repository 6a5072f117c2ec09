"""Bad requests fail before any side effect, with messages that name the field: in the
typed client (before a run exists) and in a run started with raw JSON, as from the UI."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, FailureError

from lifeboat.client import LifeboatClient, RunFailedError
from lifeboat.models import BackupRequest, RestoreRequest
from lifeboat.queues import CONTROL_QUEUE

INVALID_OPTIONS = [
    pytest.param({"datamover_memory_limit_mib": 100}, "datamover_memory_limit_mib", id="memory"),
    pytest.param(
        {"storage_class_methods": {"csi-snap": "teleport"}}, "storage_class_methods", id="method"
    ),
    pytest.param(
        {"concurrent_pvs": 8, "total_concurrent_files": 4}, "concurrent_pvs", id="concurrency"
    ),
]


def application_error(exc: BaseException) -> ApplicationError:
    """The innermost application error of a failed run: what the person reads."""
    found: ApplicationError | None = None
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ApplicationError):
            found = cause
        cause = cause.cause if isinstance(cause, FailureError) else cause.__cause__
    assert found is not None, repr(exc)
    return found


async def start_raw(client: Client, workflow: str, request: dict[str, Any]) -> ApplicationError:
    """Start a run the way the Temporal UI's form does: a workflow name and plain JSON."""
    handle = await client.start_workflow(
        workflow,
        request,
        id=f"raw-{workflow.lower()}-{uuid.uuid4().hex[:8]}",
        task_queue=CONTROL_QUEUE,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    return application_error(failed.value)


@pytest.mark.parametrize(("options", "field"), INVALID_OPTIONS)
async def test_invalid_options_are_refused_by_the_client_and_by_the_workflow(
    options: dict[str, Any], field: str, temporal_client: Client, kube: Any
) -> None:
    request = {"cluster": "dev", "options": options}
    with pytest.raises(ValidationError, match=field):
        BackupRequest.model_validate(request)

    error = await start_raw(temporal_client, "Backup", request)
    assert error.type == "InvalidRequest"
    assert f"options.{field}" in error.message or field in error.message
    assert kube.managed_objects("dev") == []


async def test_an_unknown_cluster_is_refused_by_the_client_and_by_the_workflow(
    lifeboat: LifeboatClient, temporal_client: Client
) -> None:
    with pytest.raises(ValueError, match=r"^cluster: unknown cluster 'nowhere'"):
        await lifeboat.start_backup(BackupRequest(cluster="nowhere"))

    error = await start_raw(temporal_client, "Backup", {"cluster": "nowhere"})
    assert error.type == "InvalidRequest"
    assert "nowhere" in error.message and "cluster" in error.message


async def test_an_unknown_storage_class_in_the_mapping_fails_before_any_change(
    lifeboat: LifeboatClient,
    temporal_client: Client,
    default_backup: Any,
    apps: Any,
    kube: Any,
) -> None:
    target = apps.namespace("dev", "wf-nosc")
    request = RestoreRequest(
        recovery_point=default_backup.result.id,
        namespace_mapping={default_backup.result.volumes[0].namespace: target},
        storage_class_mapping={"csi-snap": "gold"},
    )
    run = await lifeboat.start_restore(request)
    with pytest.raises(RunFailedError, match=r"storage_class_mapping: .*'gold'"):
        await run.result()

    error = await start_raw(temporal_client, "Restore", request.model_dump(mode="json"))
    assert error.message.startswith("storage_class_mapping: ")
    assert error.non_retryable
    assert kube.find("dev", f"/api/v1/namespaces/{target}") is None
    assert kube.managed_objects("dev") == []
