"""Small files read and sealed in worker processes, as the backup's process would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datamover import compression
from datamover.backupworker import HANDLER, SEAL
from datamover.crypto import MasterKey
from datamover.ids import hash_bytes
from datamover.smallfiles import (
    GROWN,
    SEALED,
    UNREADABLE,
    SealSettings,
    read_and_seal,
    read_small,
)
from datamover.workerpool import WorkerPool

LIMIT = 4096


def _settings() -> SealSettings:
    return SealSettings(MasterKey.random(), compression.DEFAULT_LEVEL, LIMIT)


def _workers(settings: SealSettings, processes: int) -> WorkerPool:
    return WorkerPool(HANDLER, settings, processes)


def test_workers_seal_what_this_process_would(tmp_path: Path) -> None:
    settings = _settings()
    files = {f"f{i:03d}": os.urandom(i * 7) + b"text " * i for i in range(60)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batch = [(os.fsencode(tmp_path / name), name, len(data)) for name, data in files.items()]

    workers = _workers(settings, 2)
    try:
        answers = workers.map([(SEAL, batch[:20]), (SEAL, batch[20:40]), (SEAL, batch[40:])])
    finally:
        workers.close()

    results = [result for answer in answers for result in answer]
    for (path, name, _), result in zip(batch, results, strict=True):
        here = read_and_seal(path, name, settings)
        tag, document, length, blob_id, sealed, uncompressed, changed = result
        assert (tag, document, length, blob_id, uncompressed, changed) == (
            here[0],
            here[1],
            here[2],
            here[3],
            here[5],
            here[6],
        )
        data = files[name]
        if not data:
            assert blob_id is None and sealed is None
            continue
        assert blob_id == hash_bytes(data)
        plain = settings.key.open(sealed)
        assert (compression.decompress(plain, len(data)) if uncompressed else plain) == data


def test_missing_and_grown_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"b" * LIMIT)
    (tmp_path / "dir").mkdir()
    batch = [
        (os.fsencode(tmp_path / "gone"), "gone", 10),
        (os.fsencode(tmp_path / "big"), "big", 10),
        (os.fsencode(tmp_path / "dir"), "dir", 10),
    ]
    workers = _workers(_settings(), 1)
    try:
        (answer,) = workers.map([(SEAL, batch)])
    finally:
        workers.close()

    assert isinstance(answer, list)
    assert answer[0] == (UNREADABLE, f"{tmp_path / 'gone'} vanished before it was read")
    assert answer[1] == (GROWN,)
    assert answer[2][0] == UNREADABLE and "dir" in answer[2][1]
    assert all(result[0] != SEALED for result in answer)


def test_a_small_file_is_read_in_one_call_unless_it_grew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"x" * 5000)
    reads: list[int] = []
    real_read = os.read

    def counted(fd: int, length: int) -> bytes:
        reads.append(length)
        return real_read(fd, length)

    monkeypatch.setattr(os, "read", counted)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_small(fd, 5000, 16384) == b"x" * 5000
        assert len(reads) == 1  # its end seen without asking again
        os.lseek(fd, 0, os.SEEK_SET)
        reads.clear()
        # Larger than its fstat said (it grew meanwhile): read on to its end.
        assert read_small(fd, 4000, 16384) == b"x" * 5000
        assert len(reads) == 2
        os.lseek(fd, 0, os.SEEK_SET)
        assert read_small(fd, 5000, 4096) is None  # no longer small
    finally:
        os.close(fd)
