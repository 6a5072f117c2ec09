from collections.abc import Callable

import pytest
from pydantic import BaseModel

from lifeboat.models import DnsLabel, K8sName
from lifeboat.models.common import AbsolutePath, MemoryLimitMiB

Rejection = Callable[..., str]
"""The ``rejection`` fixture of conftest.py."""


class Names(BaseModel):
    label: DnsLabel | None = None
    name: K8sName | None = None
    path: AbsolutePath | None = None
    memory: MemoryLimitMiB | None = None


@pytest.mark.parametrize("value", ["a", "dev", "team-1", "0abc", "a" * 63])
def test_valid_dns_labels(value: str) -> None:
    assert Names(label=value).label == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        ("a" * 64, "is 64 characters long; at most 63 are allowed"),
        ("Dev", "must be lowercase"),
        ("-dev", "must start and end with a letter or digit"),
        ("dev-", "must start and end with a letter or digit"),
        ("dev_1", "may contain only lowercase letters, digits and '-'"),
        ("a.b", "may contain only lowercase letters, digits and '-'"),
    ],
)
def test_invalid_dns_labels_name_value_and_rule(
    rejection: Rejection, value: str, problem: str
) -> None:
    message = rejection(Names, {"label": value})
    assert message.startswith(f"label: {value!r} is not a valid name: it ")
    assert problem in message
    assert message.endswith("(DNS-1123 label)")


def test_dns_subdomain(rejection: Rejection) -> None:
    assert Names(name="csi.example.com").name == "csi.example.com"
    assert "has a part 'Bad' that must be lowercase" in rejection(Names, {"name": "Bad.x"})
    assert "has an empty part between dots" in rejection(Names, {"name": "a..b"})
    assert "at most 253 are allowed" in rejection(Names, {"name": ".".join(["a" * 63] * 4)})


def test_absolute_paths_are_normalised(rejection: Rejection) -> None:
    assert Names(path="//var/lib//kubelet/pods/").path == "/var/lib/kubelet/pods"
    assert rejection(Names, {"path": "var/lib"}) == (
        "path: 'var/lib' is not an absolute path; it must start with '/'"
    )
    assert "must not contain '..'" in rejection(Names, {"path": "/var/../etc"})


@pytest.mark.parametrize("value", [512, 1024, 8192])
def test_memory_limit_bounds_inclusive(value: int) -> None:
    assert Names(memory=value).memory == value


@pytest.mark.parametrize("value", [100, 511, 8193])
def test_memory_limit_out_of_range(rejection: Rejection, value: int) -> None:
    assert rejection(Names, {"memory": value}) == (
        f"memory: {value} is out of range; allowed 512 to 8192 (MiB)"
    )


def test_non_integer_memory_names_value(rejection: Rejection) -> None:
    assert rejection(Names, {"memory": "lots"}) == (
        "memory: input should be a valid integer, unable to parse string as an integer; "
        "given 'lots'"
    )
