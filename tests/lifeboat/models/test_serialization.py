import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from lifeboat.models import (
    MODELS,
    BackupPolicy,
    BackupRequest,
    RecoveryPoint,
    RestoreRequest,
    format_validation_error,
)

SNAPSHOT_ID = "0123456789abcdef" * 4
CREATED = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
SAMPLES: dict[str, dict[str, object]] = {
    "Cluster": {
        "name": "prod",
        "kubeconfig": "/etc/lifeboat/kubeconfig",
        "context": "prod",
        "kubelet_pods_dir": "/data/kubelet/pods",
        "aws": {
            "account_id": "012345678901",
            "region": "us-east-1",
            "eks_cluster_name": "prod",
            "role_arn": "arn:aws:iam::012345678901:role/LifeboatAccess",
        },
    },
    "AwsLink": {
        "account_id": "012345678901",
        "region": "us-gov-west-1",
        "eks_cluster_name": "gov",
        "role_arn": "arn:aws-us-gov:iam::012345678901:role/LifeboatAccess",
    },
    "StorageLocation": {
        "name": "default",
        "endpoint": "http://127.0.0.1:8333",
        "bucket": "lifeboat",
        "prefix": "dev",
        "credentials": {
            "access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
            "secret_access_key": {"env": "AWS_SECRET_ACCESS_KEY"},
            "session_token": {"file": "/run/token"},
        },
        "password": {"file": "/run/secrets/repository-password"},
    },
    "S3Credentials": {
        "access_key_id": {"env": "A"},
        "secret_access_key": {"env": "B"},
    },
    "SecretRef": {"env": "LIFEBOAT_PASSWORD"},
    "ResourceSelection": {
        "include_namespaces": ["team-*"],
        "exclude_namespaces": ["team-sandbox"],
        "label_selector": "app=web,tier in (db,cache)",
        "include_resource_types": ["*"],
        "exclude_resource_types": ["events", "events.events.k8s.io"],
        "cluster_scoped": "off",
    },
    "Schedule": {
        "cron": "0 2 * * *",
        "time_zone": "Europe/Berlin",
        "overlap": "buffer_one",
        "jitter": "5m",
        "paused": True,
        "note": "maintenance window",
    },
    "BackupOptions": {
        "pv_mode": "object_storage",
        "storage_class_methods": {"nfs": "pvc", "local": "host_volume"},
        "preserve_snapshots": True,
        "total_concurrent_files": 32,
        "concurrent_pvs": 8,
        "datamover_memory_limit_mib": 2048,
    },
    "BackupPolicy": {
        "name": "nightly",
        "cluster": "prod",
        "options": {"preserve_snapshots": True},
        "retention": "14d",
        "snapshot_retention": "2d",
        "schedule": {"interval": "6h"},
    },
    "BackupRequest": {
        "cluster": "prod",
        "policy": "nightly",
        "retention": "90d",
        "labels": {"lifeboat.io/reason": "pre-upgrade"},
    },
    "RestoreRequest": {
        "recovery_point": "backup-prod-20250101T020000Z",
        "target_cluster": "dev2",
        "namespace_mapping": {"shop": "shop-copy"},
        "storage_class_mapping": {"gp2": "csi-snap"},
        "existing_resource_policy": "update",
        "restore_pv_data": False,
    },
    "RecoveryPoint": {
        "id": "backup-prod-20250101T020000Z",
        "cluster": "prod",
        "policy": "nightly",
        "storage_location": "default",
        "workflow_id": "backup-prod-20250101T020000Z",
        "created_at": CREATED,
        "completed_at": CREATED + timedelta(minutes=3),
        "expires_at": CREATED + timedelta(days=14),
        "snapshot_expires_at": CREATED + timedelta(days=2),
        "status": "PartiallyFailed",
        "resource_snapshot_id": SNAPSHOT_ID,
        "volumes": [
            {
                "namespace": "shop",
                "pvc": "data",
                "pv": "pvc-1",
                "method": "host_volume",
                "reason": "mounted by running pod shop/web-0",
                "status": "Failed",
                "error": "node agent unreachable",
                "duration": "PT1.25S",
            }
        ],
        "resource_counts": {"configmaps": 4},
        "warnings": ["one volume failed"],
    },
    "VolumeBackup": {
        "namespace": "shop",
        "pvc": "data",
        "pv": "pvc-1",
        "method": "snapshot",
        "reason": "driver supports snapshots",
        "status": "Completed",
        "repository_snapshot_id": SNAPSHOT_ID,
        "bytes_total": 1 << 40,
        "files": 3,
    },
    "VolumeMethodDecision": {
        "namespace": "shop",
        "pvc": "data",
        "pv": "pvc-1",
        "method": "skip",
        "reason": "storage class 'scratch' is set to skip",
    },
}


def test_every_public_model_has_a_sample() -> None:
    assert set(SAMPLES) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_json_round_trip(name: str) -> None:
    model = MODELS[name].model_validate(SAMPLES[name])
    assert MODELS[name].model_validate_json(model.model_dump_json()) == model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_temporal_pydantic_converter_round_trip(name: str) -> None:
    model = MODELS[name].model_validate(SAMPLES[name])
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([model])
    assert payloads[0].metadata["encoding"] == b"json/plain"
    (back,) = converter.from_payloads(payloads, [MODELS[name]])
    assert back == model


def test_json_typed_in_the_temporal_ui_start_form() -> None:
    """The UI sends the JSON a person typed; defaults fill the rest."""
    converter = pydantic_data_converter.payload_converter
    typed = [
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"cluster": "dev"}'),
        Payload(metadata={"encoding": b"json/plain"}, data=b'{"recovery_point": "rp-1"}'),
    ]
    backup, restore = converter.from_payloads(typed, [BackupRequest, RestoreRequest])
    assert backup == BackupRequest(cluster="dev")
    assert restore == RestoreRequest(recovery_point="rp-1")


def test_bad_ui_input_fails_with_field_naming_errors() -> None:
    converter = pydantic_data_converter.payload_converter
    typed = Payload(
        metadata={"encoding": b"json/plain"},
        data=b'{"cluster": "dev", "options": {"datamover_memory_limit_mib": 100}}',
    )
    with pytest.raises(ValueError) as caught:
        converter.from_payloads([typed], [BackupRequest])
    assert format_validation_error(caught.value) == (  # type: ignore[arg-type]
        "options.datamover_memory_limit_mib: 100 is out of range; allowed 512 to 8192 (MiB)"
    )


def test_durations_and_times_serialise_as_iso_8601() -> None:
    policy = BackupPolicy.model_validate(SAMPLES["BackupPolicy"])
    data = policy.model_dump(mode="json")
    assert data["retention"] == "P14D"
    assert data["schedule"]["interval"] == "PT6H"
    point = RecoveryPoint.model_validate(SAMPLES["RecoveryPoint"])
    assert point.model_dump(mode="json")["created_at"] == "2025-01-01T02:00:00Z"


def _history_of_one_run(workflow_type: str, argument: dict[str, object]) -> WorkflowHistory:
    """A run that started with ``argument`` and completed in its first workflow task."""
    payload = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(argument).encode()).decode(),
    }
    event: dict[str, object] = {"eventTime": "2025-01-01T00:00:00Z"}
    events = [
        {
            **event,
            "eventId": "1",
            "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
            "workflowExecutionStartedEventAttributes": {
                "workflowType": {"name": workflow_type},
                "taskQueue": {"name": "lifeboat"},
                "input": {"payloads": [payload]},
                "workflowTaskTimeout": "10s",
                "attempt": 1,
                "originalExecutionRunId": "run-1",
                "firstExecutionRunId": "run-1",
            },
        },
        {
            **event,
            "eventId": "2",
            "eventType": "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
            "workflowTaskScheduledEventAttributes": {
                "taskQueue": {"name": "lifeboat"},
                "startToCloseTimeout": "10s",
                "attempt": 1,
            },
        },
        {
            **event,
            "eventId": "3",
            "eventType": "EVENT_TYPE_WORKFLOW_TASK_STARTED",
            "workflowTaskStartedEventAttributes": {"scheduledEventId": "2", "requestId": "r"},
        },
        {
            **event,
            "eventId": "4",
            "eventType": "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
            "workflowTaskCompletedEventAttributes": {
                "scheduledEventId": "2",
                "startedEventId": "3",
            },
        },
        {
            **event,
            "eventId": "5",
            "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
            "workflowExecutionCompletedEventAttributes": {"workflowTaskCompletedEventId": "4"},
        },
    ]
    return WorkflowHistory.from_json("policy-to-request", {"events": events})


async def test_models_validate_inside_the_workflow_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A workflow may import the models without marking them pass-through; its input is
    validated inside the sandbox (time zones, cron) and a bad input fails naming the field."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.delitem(sys.modules, "sandbox_probe", raising=False)
    import sandbox_probe

    replayer = Replayer(
        workflows=[sandbox_probe.PolicyToRequest], data_converter=pydantic_data_converter
    )
    policy: dict[str, object] = {
        "name": "nightly",
        "cluster": "dev",
        "schedule": {"cron": "0 2 * * *", "time_zone": "Europe/Berlin"},
    }
    good = await replayer.replay_workflow(
        _history_of_one_run("PolicyToRequest", policy), raise_on_replay_failure=False
    )
    assert good.replay_failure is None
    policy["schedule"] = {"cron": "0 2 * * *", "time_zone": "Europe/Berln"}
    bad = await replayer.replay_workflow(
        _history_of_one_run("PolicyToRequest", policy), raise_on_replay_failure=False
    )
    assert "Failed decoding arguments" in str(bad.replay_failure)
    assert "'Europe/Berln' is not a known IANA time zone" in str(bad.replay_failure)


def test_models_are_frozen() -> None:
    request = BackupRequest(cluster="dev")
    with pytest.raises(ValueError, match="frozen"):
        request.cluster = "prod"  # type: ignore[misc]
    assert isinstance(request, BaseModel)
