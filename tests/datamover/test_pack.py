"""Pack files: header encoding and reading the header back from storage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datamover.backend.base import FileType
from datamover.backend.local import LocalBackend
from datamover.blobs import BlobType
from datamover.crypto import MasterKey
from datamover.errors import PackCorruptedError
from datamover.ids import hash_bytes
from datamover.pack import PackBuilder, expected_pack_size, read_pack_header


@pytest.mark.parametrize("count", [1, 40])  # 40 entries need a second ranged read
def test_header_round_trip_through_backend(tmp_path: Path, count: int) -> None:
    key = MasterKey.random()
    backend = LocalBackend(tmp_path)
    builder = PackBuilder(BlobType.TREE)
    for i in range(count):
        plain = os.urandom(100 + i)
        builder.add(hash_bytes(plain), key.seal(plain), uncompressed_length=i % 2 * 500)
    data = b"".join(builder.finish(key))
    backend.save(FileType.DATA, "ab" * 32, data)
    blobs = read_pack_header(backend, key, "ab" * 32)
    assert blobs == builder.blobs
    assert expected_pack_size(blobs) == len(data)
    with pytest.raises(PackCorruptedError):
        read_pack_header(backend, MasterKey.random(), "ab" * 32)
