from collections.abc import Callable

import pytest
from pydantic import BaseModel, ValidationError

from lifeboat.models import BackupRequest, RestoreRequest, StorageLocation, format_validation_error
from lifeboat.models.errors import FieldErrors, one_of, show

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


def test_unknown_fields_are_named_with_a_suggestion(rejection: Rejection) -> None:
    message = rejection(BackupRequest, {"cluster": "dev", "retension": "7d"})
    assert message.startswith(
        "retension: unknown field 'retension'; did you mean 'retention'? fields of BackupRequest: "
        "cluster, storage_location, selection, options, retention"
    )


def test_unknown_nested_field_with_other_errors(rejection: Rejection) -> None:
    message = rejection(
        BackupRequest,
        {"cluster": "Dev", "options": {"concurent_pvs": 2, "datamover_memory_limit_mib": 1}},
    )
    lines = message.splitlines()
    assert lines[0] == "cluster: 'Dev' is not a valid name: it must be lowercase (DNS-1123 label)"
    assert (
        lines[1]
        == "options.datamover_memory_limit_mib: 1 is out of range; allowed 512 to 8192 (MiB)"
    )
    assert lines[2].startswith(
        "options.concurent_pvs: unknown field 'concurent_pvs'; did you mean 'concurrent_pvs'?"
    )


def test_unknown_field_without_a_close_match_never_echoes_its_value(rejection: Rejection) -> None:
    message = rejection(
        StorageLocation,
        {"name": "x", "bucket": "bkt", "password": {"env": "P"}, "aws_secret": "s3cr3t"},
    )
    assert message.startswith("aws_secret: unknown field 'aws_secret'; fields of StorageLocation:")
    assert "s3cr3t" not in message


def test_inputs_hidden_from_the_exception_text() -> None:
    with pytest.raises(ValidationError) as caught:
        RestoreRequest.model_validate({"recovery_point": "rp", "existing_resource_policy": "zap"})
    assert "zap" not in str(caught.value)
    assert format_validation_error(caught.value) == (
        "existing_resource_policy: 'zap' is not allowed; allowed: 'skip' or 'update'"
    )


def test_model_level_errors_use_the_model_name() -> None:
    class Point(BaseModel):
        x: int

    with pytest.raises(ValidationError) as caught:
        Point.model_validate("not a mapping")
    assert format_validation_error(caught.value) == (
        "Point: input should be a valid dictionary or instance of Point; given 'not a mapping'"
    )


def test_field_errors_collects_at_field_paths() -> None:
    errors = FieldErrors("Thing")
    errors.raise_if_any()
    errors.add(("a", 0, "b"), "kind", "message with {braces}", 1)
    errors.add("c", "kind", "another", 2)
    with pytest.raises(ValidationError) as caught:
        errors.raise_if_any()
    assert [e["type"] for e in caught.value.errors()] == ["lifeboat.kind", "lifeboat.kind"]
    assert format_validation_error(caught.value) == "a[0].b: message with {braces}\nc: another"


def test_show_and_one_of() -> None:
    assert show("x" * 100) == "'" + "x" * 76 + "..."
    assert one_of(["a"]) == "'a'"
    assert one_of(["a", "b", "c"]) == "'a', 'b' or 'c'"
