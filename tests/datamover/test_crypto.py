from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from datamover.crypto import OVERHEAD, AuthenticationError, MasterKey, derive_key
from datamover.kdf import ScryptParams


def test_seal_open_and_tamper_detection() -> None:
    key = MasterKey.random()
    sealed = key.seal(b"payload")
    assert len(sealed) == len(b"payload") + OVERHEAD
    assert key.open(sealed) == b"payload"
    assert key.seal(b"payload") != sealed  # fresh IV each time
    tampered = bytearray(sealed)
    tampered[20] ^= 1
    with pytest.raises(AuthenticationError):
        key.open(bytes(tampered))
    with pytest.raises(AuthenticationError):
        MasterKey.random().open(sealed)


def test_master_key_json_round_trip_and_no_secret_in_repr() -> None:
    key = MasterKey.random()
    assert MasterKey.from_json(key.to_json()) == key
    assert key.encrypt.hex() not in repr(key)


def test_derived_keys_depend_on_password_and_salt() -> None:
    params = ScryptParams(n=1024, r=8, p=1)
    first = derive_key("pw", b"s" * 64, params)
    assert derive_key("pw", b"s" * 64, params) == first
    assert derive_key("pw2", b"s" * 64, params) != first
    assert derive_key("pw", b"t" * 64, params) != first


def test_threads_sharing_a_key_seal_and_open_independently() -> None:
    key = MasterKey.random()
    payloads = [os.urandom(size) for size in (0, 1, 15, 16, 17, 4096, 100_003)]

    def round_trip(data: bytes) -> bytes:
        sealed = key.seal(data)
        assert key.open(memoryview(sealed)) == data
        return sealed

    with ThreadPoolExecutor(max_workers=4) as pool:
        sealed = list(pool.map(round_trip, payloads * 20))
    assert [key.open(s) for s in sealed] == payloads * 20
