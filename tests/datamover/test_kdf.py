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


@pytest.mark.parametrize("n", [0, 1, 1000])
def test_parameters_that_are_not_scrypts_are_a_value_error(n: int) -> None:
    with pytest.raises(ValueError):
        scrypt_derive("pw", b"s" * 64, ScryptParams(n=n, r=8, p=1))
