from collections.abc import Callable

import pytest

from lifeboat.models import StorageLocation

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""

BASE = {"name": "default", "bucket": "lifeboat", "password": {"env": "LIFEBOAT_PASSWORD"}}


def test_repository_string_for_an_s3_endpoint() -> None:
    location = StorageLocation.model_validate(
        {**BASE, "endpoint": "http://127.0.0.1:8333", "prefix": "/clusters/dev/"}
    )
    assert location.prefix == "clusters/dev"
    assert location.endpoint_url == "http://127.0.0.1:8333"
    assert location.repository() == "s3:http://127.0.0.1:8333/lifeboat/clusters/dev"
    at_root = location.model_copy(update={"prefix": ""})
    assert at_root.repository() == "s3:http://127.0.0.1:8333/lifeboat"


def test_aws_endpoint_derived_from_region() -> None:
    location = StorageLocation.model_validate({**BASE, "region": "eu-central-1", "prefix": "r"})
    assert location.repository() == "s3:https://s3.eu-central-1.amazonaws.com/lifeboat/r"
    china = StorageLocation.model_validate({**BASE, "region": "cn-north-1"})
    assert china.endpoint_url == "https://s3.cn-north-1.amazonaws.com.cn"


def test_credentials_by_reference() -> None:
    location = StorageLocation.model_validate(
        {
            **BASE,
            "credentials": {
                "access_key_id": {"env": "AWS_ACCESS_KEY_ID"},
                "secret_access_key": {"file": "/var/run/secrets/s3/secret"},
            },
        }
    )
    assert location.credentials is not None
    assert location.credentials.secret_access_key.describe() == "file:/var/run/secrets/s3/secret"


def test_keys_given_by_value_are_refused(rejection: Rejection) -> None:
    message = rejection(
        StorageLocation,
        {**BASE, "credentials": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "s3cr3t"}},
    )
    lines = message.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "credentials.access_key_id",
        "credentials.secret_access_key",
    ]
    assert all("secrets are never accepted by value" in line for line in lines)
    assert "s3cr3t" not in message and "AKIAEXAMPLE" not in message


@pytest.mark.parametrize(
    ("bucket", "problem"),
    [
        ("ab", "is 2 characters long; 3 to 63 are allowed"),
        ("a" * 64, "is 64 characters long; 3 to 63 are allowed"),
        ("My-Bucket", "may contain only lowercase letters, digits, '.' and '-'"),
        ("bucket-", "must start and end with a letter or digit"),
        ("my..bucket", "must not contain two adjacent periods"),
        ("192.168.5.4", "must not be formatted as an IP address"),
        ("xn--bucket", "must not start with the reserved prefix 'xn--'"),
        ("logs-s3alias", "must not end with the reserved suffix '-s3alias'"),
    ],
)
def test_bucket_naming_rules(rejection: Rejection, bucket: str, problem: str) -> None:
    message = rejection(StorageLocation, {**BASE, "bucket": bucket})
    assert message.startswith(f"bucket: {bucket!r} is not a valid S3 bucket name: it ")
    assert problem in message


def test_endpoint_without_path_or_credentials(rejection: Rejection) -> None:
    with_path = rejection(StorageLocation, {**BASE, "endpoint": "http://h:8333/lifeboat"})
    assert with_path == (
        "endpoint: 'http://h:8333/lifeboat' must be scheme, host and port only; "
        "the bucket and prefix have their own fields"
    )
    with_user = rejection(StorageLocation, {**BASE, "endpoint": "http://key:s3cr3t@h:8333"})
    assert "must not carry credentials" in with_user
    assert "s3cr3t" not in with_user
    assert "ftp" in rejection(StorageLocation, {**BASE, "endpoint": "ftp://h"})


def test_prefix_and_region_rules(rejection: Rejection) -> None:
    assert "must not contain empty, '.' or '..' path parts" in rejection(
        StorageLocation, {**BASE, "prefix": "a//b"}
    )
    assert "is not a valid prefix" in rejection(StorageLocation, {**BASE, "prefix": "a b"})
    assert rejection(StorageLocation, {**BASE, "region": "local"}) == (
        "region: 'local' is not an AWS region name such as 'us-east-1'; without an endpoint "
        "the location is on AWS S3"
    )
    on_premises = StorageLocation.model_validate(
        {**BASE, "region": "local", "endpoint": "https://minio.internal:9000"}
    )
    assert on_premises.repository() == "s3:https://minio.internal:9000/lifeboat"
