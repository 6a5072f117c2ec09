from __future__ import annotations

import hashlib

import pytest

from datamover.kdf import DERIVED_SIZE, ScryptParams, scrypt_derive


@pytest.mark.parametrize(
    "params",
    [ScryptParams(), ScryptParams(n=1024, r=8, p=1), ScryptParams(n=16, r=1, p=3)],
    ids=["restic's defaults", "the tests' fast key", "tiny"],
)
def test_libsodium_derives_the_bytes_of_the_scrypt_standard(params: ScryptParams) -> None:
    """restic and OpenSSL's scrypt (here through `hashlib`) must open what Lifeboat seals."""
    salt = bytes(range(64))
    expected = hashlib.scrypt(
        "pässword".encode(),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=1 << 30,
        dklen=DERIVED_SIZE,
    )
    assert scrypt_derive("pässword", salt, params) == expected


@pytest.mark.parametrize(
    ("n", "r", "p", "said"),
    [
        (0, 8, 1, "N must be a power of two"),
        (1, 8, 1, "N must be a power of two"),
        (1000, 8, 1, "N must be a power of two"),
        (1024, 0, 1, "r and p must be at least 1"),
        (1024, 8, 0, "r and p must be at least 1"),
        (2**21, 8, 1, "need 2048 MiB; at most 1024 MiB"),
    ],
)
def test_parameters_scrypt_cannot_take_are_a_value_error_naming_them(
    n: int, r: int, p: int, said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        ScryptParams(n=n, r=r, p=p)
