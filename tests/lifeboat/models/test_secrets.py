from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from lifeboat.models import SecretRef, SecretUnavailableError, StorageLocation

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""

SECRET = "hunter2-very-secret"


def location(password: object) -> dict[str, object]:
    return {"name": "default", "bucket": "lifeboat", "password": password}


def test_reference_by_env_or_file() -> None:
    assert SecretRef(env="LIFEBOAT_PASSWORD").describe() == "env:LIFEBOAT_PASSWORD"
    assert SecretRef(file="/etc/lifeboat/password").describe() == "file:/etc/lifeboat/password"


@pytest.mark.parametrize(
    "password",
    [SECRET, {"value": SECRET}, {"env": "X", "secret": SECRET}, {"password": SECRET}],
)
def test_a_value_is_refused_without_being_repeated(password: object) -> None:
    with pytest.raises(ValidationError) as caught:
        StorageLocation.model_validate(location(password))
    from lifeboat.models import format_validation_error

    message = format_validation_error(caught.value)
    assert message.startswith("password: ")
    assert "secrets are never accepted by value" in message
    assert '{"env": "VARIABLE_NAME"} or {"file": "/path/to/file"}' in message
    assert SECRET not in message
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


def test_no_model_has_a_field_for_a_secret_value() -> None:
    from lifeboat.models import MODELS

    for name, model in MODELS.items():
        schema = str(model.model_json_schema())
        for field in ("secret_value", "'value'", "plaintext", "secret_access_key_value"):
            assert field not in schema, (name, field)


def test_exactly_one_reference(rejection: Rejection) -> None:
    both = rejection(StorageLocation, location({"env": "A", "file": "/a"}))
    assert both.startswith("password: exactly one of 'env' or 'file' is required, 2 given")
    assert "0 given" in rejection(StorageLocation, location({}))


def test_reference_fields_are_checked(rejection: Rejection) -> None:
    assert rejection(StorageLocation, location({"env": "1BAD"})) == (
        "password.env: '1BAD' is not an environment variable name; letters, digits and '_' "
        "are allowed, not starting with a digit"
    )
    assert "is not an absolute path" in rejection(StorageLocation, location({"file": "pw"}))


def test_read_from_env() -> None:
    assert SecretRef(env="PW").read({"PW": SECRET}).get_secret_value() == SECRET
    with pytest.raises(SecretUnavailableError, match="environment variable PW is not set"):
        SecretRef(env="PW").read({})
    with pytest.raises(SecretUnavailableError, match="secret env:PW is empty"):
        SecretRef(env="PW").read({"PW": ""})


def test_read_from_file_drops_one_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text(SECRET + "\n")
    secret = SecretRef(file=str(path)).read()
    assert secret.get_secret_value() == SECRET
    assert SECRET not in repr(secret)
    with pytest.raises(SecretUnavailableError, match=r"cannot read secret file .*/missing"):
        SecretRef(file=str(tmp_path / "missing")).read()
