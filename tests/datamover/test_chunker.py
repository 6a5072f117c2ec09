"""Chunk boundaries depend on the content only, never on how the stream is read."""

from __future__ import annotations

import io
import random

import pytest

from datamover.chunker import Chunker, ChunkerParams

PARAMS = ChunkerParams(min_size=16 * 1024, avg_size=64 * 1024, max_size=256 * 1024)


def _chunks(data: bytes, read_size: int, size_hint: int) -> list[bytes]:
    stream = io.BytesIO(data)

    def read_into(buffer: memoryview) -> int:
        return stream.readinto(buffer[:read_size])

    return [bytes(c) for c in Chunker(PARAMS).chunks(read_into, size_hint)]


def test_cut_points_do_not_depend_on_read_sizes_or_size_hints() -> None:
    rng = random.Random(3)
    data = rng.randbytes(3_000_000) + bytes(1_000_000) + rng.randbytes(100_000)
    reference = _chunks(data, len(data), len(data))
    assert b"".join(reference) == data
    assert all(PARAMS.min_size <= len(c) <= PARAMS.max_size for c in reference[:-1])
    for read_size, hint in ((4096, 0), (100_003, 10), (1 << 20, 1 << 30)):
        assert _chunks(data, read_size, hint) == reference


def test_an_insertion_only_changes_the_chunks_around_it() -> None:
    rng = random.Random(4)
    data = rng.randbytes(4_000_000)
    before = _chunks(data, 65536, len(data))
    after = _chunks(data[:2_000_000] + b"inserted" + data[2_000_000:], 65536, len(data))
    assert len(set(before) & set(after)) >= len(before) - 3


@pytest.mark.parametrize("data", [b"", b"x", bytes(100)])
def test_small_streams(data: bytes) -> None:
    assert b"".join(_chunks(data, 7, 0)) == data
    assert len(_chunks(data, 7, 0)) == (1 if data else 0)


def test_sizes_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="min_size"):
        ChunkerParams(min_size=64 * 1024, avg_size=32 * 1024, max_size=256 * 1024)
