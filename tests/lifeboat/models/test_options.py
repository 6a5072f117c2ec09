from collections.abc import Callable

import pytest

from lifeboat.models import BackupMethod, BackupOptions, PvMode

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


def test_defaults() -> None:
    options = BackupOptions()
    assert options.pv_mode is PvMode.OBJECT_STORAGE
    assert options.snapshot_before_backup is True
    assert options.backup_unsnapshotted_directly is True
    assert options.storage_class_methods == {}
    assert options.preserve_snapshots is False
    assert options.total_concurrent_files == 24
    assert options.concurrent_pvs == 4
    assert options.files_per_pv == 6
    assert options.datamover_memory_limit_mib == 1024
    assert options.datamover_bandwidth_limit_mib is None
    assert options.keeps_snapshots is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("total_concurrent_files", 0, "0 is out of range; allowed 1 to 1024 (files)"),
        ("total_concurrent_files", 1025, "1025 is out of range; allowed 1 to 1024 (files)"),
        ("concurrent_pvs", 0, "0 is out of range; allowed 1 to 256 (volumes)"),
        ("datamover_memory_limit_mib", 100, "100 is out of range; allowed 512 to 8192 (MiB)"),
        ("datamover_memory_limit_mib", 8193, "8193 is out of range; allowed 512 to 8192 (MiB)"),
        ("datamover_bandwidth_limit_mib", 0, "0 is out of range; allowed 1 to 100000 (MiB/s)"),
    ],
)
def test_bounds(rejection: Rejection, field: str, value: int, message: str) -> None:
    assert rejection(BackupOptions, {field: value}) == f"{field}: {message}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("total_concurrent_files", 1),
        ("total_concurrent_files", 1024),
        ("datamover_memory_limit_mib", 512),
        ("datamover_memory_limit_mib", 8192),
        ("datamover_bandwidth_limit_mib", 1),
        ("datamover_bandwidth_limit_mib", None),
    ],
)
def test_bounds_are_inclusive(field: str, value: int | None) -> None:
    options = BackupOptions.model_validate({field: value, "concurrent_pvs": 1})
    assert getattr(options, field) == value


def test_concurrent_pvs_at_most_total_files(rejection: Rejection) -> None:
    assert BackupOptions(total_concurrent_files=8, concurrent_pvs=8).files_per_pv == 1
    assert BackupOptions(total_concurrent_files=25, concurrent_pvs=4).files_per_pv == 6
    assert rejection(BackupOptions, {"total_concurrent_files": 8, "concurrent_pvs": 9}) == (
        "concurrent_pvs: 9 is more than total_concurrent_files (8); allowed 1 to 8, "
        "as every volume copied needs at least one file slot"
    )


def test_storage_class_methods() -> None:
    options = BackupOptions(
        storage_class_methods={
            "csi-snap": "snapshot",
            "nfs": "pvc",
            "local": "host_volume",
            "scratch.example.com": "skip",
        }
    )
    assert options.storage_class_methods["local"] is BackupMethod.HOST_VOLUME


def test_unknown_method_lists_the_methods(rejection: Rejection) -> None:
    assert rejection(BackupOptions, {"storage_class_methods": {"nfs": "copy"}}) == (
        "storage_class_methods.nfs: 'copy' is not allowed; "
        "allowed: 'snapshot', 'pvc', 'host_volume' or 'skip'"
    )
    assert rejection(BackupOptions, {"pv_mode": "copy"}) == (
        "pv_mode: 'copy' is not allowed; allowed: 'snapshot_only' or 'object_storage'"
    )


def test_snapshot_only_allows_snapshot_or_skip(rejection: Rejection) -> None:
    options = BackupOptions(
        pv_mode="snapshot_only", storage_class_methods={"a": "snapshot", "b": "skip"}
    )
    assert options.keeps_snapshots is True
    message = rejection(
        BackupOptions,
        {
            "pv_mode": "snapshot_only",
            "storage_class_methods": {"a": "snapshot", "nfs": "pvc", "local": "host_volume"},
        },
    )
    assert message.splitlines() == [
        "storage_class_methods.nfs: 'pvc' is not allowed with pv_mode 'snapshot_only'; "
        "allowed: 'snapshot' or 'skip'",
        "storage_class_methods.local: 'host_volume' is not allowed with pv_mode "
        "'snapshot_only'; allowed: 'snapshot' or 'skip'",
    ]


def test_storage_class_names_checked(rejection: Rejection) -> None:
    message = rejection(BackupOptions, {"storage_class_methods": {"Fast SSD": "pvc"}})
    assert message.startswith("storage_class_methods.Fast SSD (key): 'Fast SSD' is not a valid")
