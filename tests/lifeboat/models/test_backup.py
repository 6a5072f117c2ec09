from collections.abc import Callable
from datetime import timedelta

from lifeboat.models import DEFAULT_RETENTION, BackupPolicy, BackupRequest

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


POLICY = {
    "name": "nightly",
    "cluster": "prod",
    "storage_location": "s3-eu",
    "selection": {"include_namespaces": ["team-*"]},
    "options": {"preserve_snapshots": True, "concurrent_pvs": 2},
    "retention": "14d",
    "snapshot_retention": "3d",
    "schedule": {"cron": "0 2 * * *", "time_zone": "Europe/Berlin"},
}


def test_a_request_needs_only_the_cluster() -> None:
    request = BackupRequest.model_validate({"cluster": "dev"})
    assert request.storage_location == "default"
    assert request.selection.include_namespaces == ["*"]
    assert request.options.total_concurrent_files == 24
    assert request.retention == DEFAULT_RETENTION == timedelta(days=30)
    assert request.snapshot_retention is None
    assert request.effective_snapshot_retention == DEFAULT_RETENTION
    assert request.policy is None
    assert request.labels == {}


def test_a_request_without_cluster(rejection: Rejection) -> None:
    assert rejection(BackupRequest, {}) == "cluster: is required"


def test_snapshot_retention_at_most_retention(rejection: Rejection) -> None:
    request = BackupRequest.model_validate(
        {
            "cluster": "dev",
            "retention": "7d",
            "snapshot_retention": "7d",
            "options": {"preserve_snapshots": True},
        }
    )
    assert request.effective_snapshot_retention == timedelta(days=7)
    message = rejection(
        BackupRequest,
        {
            "cluster": "dev",
            "retention": "7d",
            "snapshot_retention": "10d",
            "options": {"preserve_snapshots": True},
        },
    )
    assert message == (
        "snapshot_retention: 10d is longer than retention (7d); allowed up to the retention"
    )


def test_snapshot_retention_needs_kept_snapshots(rejection: Rejection) -> None:
    assert rejection(BackupRequest, {"cluster": "dev", "snapshot_retention": "1d"}) == (
        "snapshot_retention: 1d is given but snapshots are deleted after the copy; "
        "set options.preserve_snapshots to true or drop it"
    )
    snapshot_only = BackupRequest.model_validate(
        {"cluster": "dev", "snapshot_retention": "1d", "options": {"pv_mode": "snapshot_only"}}
    )
    assert snapshot_only.effective_snapshot_retention == timedelta(days=1)


def test_retention_must_be_positive(rejection: Rejection) -> None:
    assert rejection(BackupRequest, {"cluster": "dev", "retention": "0d"}) == (
        "retention: 0s is too short; must be longer than 0s"
    )


def test_policy() -> None:
    policy = BackupPolicy.model_validate(POLICY)
    assert policy.schedule.cron == "0 2 * * *"
    assert policy.options.files_per_pv == 12
    assert policy.effective_snapshot_retention == timedelta(days=3)


def test_policy_needs_name_cluster_and_schedule(rejection: Rejection) -> None:
    assert rejection(BackupPolicy, {}).splitlines() == [
        "cluster: is required",
        "name: is required",
        "schedule: is required",
    ]


def test_policy_run_carries_the_policy_and_its_retention() -> None:
    policy = BackupPolicy.model_validate(POLICY)
    request = policy.to_request()
    assert request.policy == "nightly"
    assert request.cluster == "prod"
    assert request.storage_location == "s3-eu"
    assert request.selection == policy.selection
    assert request.options == policy.options
    assert request.retention == timedelta(days=14)
    assert request.snapshot_retention == timedelta(days=3)


def test_retention_by_hand_overrides_the_policy() -> None:
    policy = BackupPolicy.model_validate(POLICY)
    request = policy.to_request(retention=timedelta(days=90), labels={"reason": "pre-upgrade"})
    assert request.retention == timedelta(days=90)
    assert request.labels == {"reason": "pre-upgrade"}
    assert policy.retention == timedelta(days=14)


def test_request_labels_checked(rejection: Rejection) -> None:
    assert rejection(BackupRequest, {"cluster": "dev", "labels": {"why": "pre upgrade"}}) == (
        "labels.why: 'pre upgrade' is not a valid label value: it has an invalid value "
        "'pre upgrade': letters, digits, '-', '_' and '.' are allowed, starting and ending "
        "with a letter or digit"
    )


def test_the_bad_requests_of_issue_4(rejection: Rejection) -> None:
    message = rejection(
        BackupRequest,
        {
            "cluster": "dev",
            "options": {
                "datamover_memory_limit_mib": 100,
                "storage_class_methods": {"nfs": "rsync"},
            },
        },
    )
    assert message.splitlines() == [
        "options.datamover_memory_limit_mib: 100 is out of range; allowed 512 to 8192 (MiB)",
        "options.storage_class_methods.nfs: 'rsync' is not allowed; "
        "allowed: 'snapshot', 'pvc', 'host_volume' or 'skip'",
    ]
    assert rejection(
        BackupRequest, {"cluster": "dev", "options": {"concurrent_pvs": 30}}
    ).startswith("options.concurrent_pvs: 30 is more than total_concurrent_files (24)")
