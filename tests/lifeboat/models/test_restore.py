from collections.abc import Callable

from lifeboat.models import ExistingResourcePolicy, RestoreRequest

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


def test_only_the_recovery_point_is_required() -> None:
    request = RestoreRequest.model_validate({"recovery_point": "backup-dev-20250101T020000Z"})
    assert request.target_cluster is None
    assert request.storage_location == "default"
    assert request.namespace_mapping == {}
    assert request.storage_class_mapping == {}
    assert request.selection.include_namespaces == ["*"]
    assert request.existing_resource_policy is ExistingResourcePolicy.SKIP
    assert request.restore_pv_data is True
    assert request.total_concurrent_files == 16
    assert request.concurrent_pvs == 4
    assert request.files_per_pv == 4
    assert request.datamover_memory_limit_mib == 1024


def test_mappings() -> None:
    request = RestoreRequest(
        recovery_point="rp-1",
        target_cluster="dev2",
        namespace_mapping={"shop": "shop-restored", "a": "b", "b": "a"},
        storage_class_mapping={"gp2": "csi-snap"},
        existing_resource_policy="update",
    )
    assert request.target_namespace("shop") == "shop-restored"
    assert request.target_namespace("a") == "b"
    assert request.target_namespace("other") == "other"
    assert request.target_storage_class("gp2") == "csi-snap"
    assert request.target_storage_class("nfs") == "nfs"


def test_mapping_targets_valid_and_unique(rejection: Rejection) -> None:
    message = rejection(
        RestoreRequest,
        {"recovery_point": "rp-1", "namespace_mapping": {"shop": "Shop_Copy"}},
    )
    assert message == (
        "namespace_mapping.shop: 'Shop_Copy' is not a valid name: it must be lowercase "
        "(DNS-1123 label)"
    )
    assert rejection(
        RestoreRequest, {"recovery_point": "rp-1", "namespace_mapping": {"a": "x", "b": "x"}}
    ) == (
        "namespace_mapping.b: 'x' is the target of 'a', 'b'; "
        "each namespace may be the target of one mapping only"
    )
    assert rejection(
        RestoreRequest, {"recovery_point": "rp-1", "storage_class_mapping": {"gp2": "Fast"}}
    ).startswith("storage_class_mapping.gp2: 'Fast' is not a valid name")


def test_limits_and_policy_named(rejection: Rejection) -> None:
    message = rejection(
        RestoreRequest,
        {
            "recovery_point": "rp-1",
            "existing_resource_policy": "replace",
            "datamover_memory_limit_mib": 9000,
            "total_concurrent_files": 2,
            "concurrent_pvs": 3,
        },
    )
    assert message.splitlines() == [
        "datamover_memory_limit_mib: 9000 is out of range; allowed 512 to 8192 (MiB)",
        "existing_resource_policy: 'replace' is not allowed; allowed: 'skip' or 'update'",
    ]
    assert rejection(
        RestoreRequest, {"recovery_point": "rp-1", "total_concurrent_files": 2, "concurrent_pvs": 3}
    ).startswith("concurrent_pvs: 3 is more than total_concurrent_files (2)")


def test_recovery_point_id_checked(rejection: Rejection) -> None:
    assert rejection(RestoreRequest, {"recovery_point": "rp 1,x"}) == (
        "recovery_point: 'rp 1,x' is not a recovery point id (1 to 128 letters, digits, '.', "
        "'_' and '-', starting with a letter or digit)"
    )
