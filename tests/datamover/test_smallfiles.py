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
    HANDED_BACK,
    SEALED,
    UNREADABLE,
    SealSettings,
    read_and_seal,
    read_small,
    seal_batch,
)
from datamover.workerpool import WorkerPool

LIMIT = 4096


def _settings(batch_bytes: int = 64 * LIMIT) -> SealSettings:
    return SealSettings(MasterKey.random(), compression.DEFAULT_LEVEL, LIMIT, batch_bytes)


def _workers(settings: SealSettings, processes: int) -> WorkerPool:
    return WorkerPool(HANDLER, settings, processes)


def test_workers_seal_what_this_process_would(tmp_path: Path) -> None:
    settings = _settings()
    files = {f"f{i:03d}": os.urandom(i * 7) + b"text " * i for i in range(60)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batch = [(os.fsencode(tmp_path / name), name) for name in files]

    workers = _workers(settings, 2)
    try:
        answers = workers.map([(SEAL, batch[:20]), (SEAL, batch[20:40]), (SEAL, batch[40:])])
    finally:
        workers.close()

    results = [result for answer in answers for result in answer]
    for (path, name), result in zip(batch, results, strict=True):
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


def test_missing_and_large_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"b" * LIMIT)
    (tmp_path / "dir").mkdir()
    batch = [
        (os.fsencode(tmp_path / "gone"), "gone"),
        (os.fsencode(tmp_path / "big"), "big"),
        (os.fsencode(tmp_path / "dir"), "dir"),
    ]
    workers = _workers(_settings(), 1)
    try:
        (answer,) = workers.map([(SEAL, batch)])
    finally:
        workers.close()

    assert isinstance(answer, list)
    assert answer[0] == (UNREADABLE, f"{tmp_path / 'gone'} vanished before it was read")
    assert answer[1][0] == HANDED_BACK and answer[1][1].st_size == LIMIT
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


def test_a_batch_hands_back_hard_links_and_what_passes_its_bytes(tmp_path: Path) -> None:
    """The walk names a batch's files without sizing them: the worker seals small files
    while the batch's bytes allow (the first file always), and hands back the rest, and
    hard-linked files (read once for all their names by the backup's process), with the
    `fstat` the walk needs to send them on."""
    sizes = {"a": 3000, "b": 3000, "c": 1500, "d": 0, "e": 100}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(os.urandom(size))
    (tmp_path / "linked").write_bytes(b"shared")
    os.link(tmp_path / "linked", tmp_path / "other-name")
    names = ["a", "b", "c", "linked", "d", "e"]
    settings = _settings(batch_bytes=4500)

    results = seal_batch([(os.fsencode(tmp_path / n), n) for n in names], settings)

    kinds = {name: result[0] for name, result in zip(names, results, strict=True)}
    # a (3000) fits; b would pass 4500 bytes; c (1500) still fits; so does d (empty) in
    # the 0 bytes left, but not e; the hard link is never read here.
    assert kinds == {
        "a": SEALED,
        "b": HANDED_BACK,
        "c": SEALED,
        "linked": HANDED_BACK,
        "d": SEALED,
        "e": HANDED_BACK,
    }
    handed_back = {n: r[1] for n, r in zip(names, results, strict=True) if r[0] == HANDED_BACK}
    assert handed_back["b"].st_size == 3000
    assert handed_back["linked"].st_nlink == 2
    assert handed_back["e"].st_ino == (tmp_path / "e").stat().st_ino
    sealed_bytes = sum(r[2] for r in results if r[0] == SEALED)
    assert sealed_bytes == 4500


def test_the_first_file_of_a_batch_is_sealed_whatever_the_batch_bytes(tmp_path: Path) -> None:
    (tmp_path / "one").write_bytes(b"x" * (LIMIT - 1))
    (tmp_path / "two").write_bytes(b"y")
    results = seal_batch(
        [(os.fsencode(tmp_path / "one"), "one"), (os.fsencode(tmp_path / "two"), "two")],
        _settings(batch_bytes=10),
    )
    assert [r[0] for r in results] == [SEALED, HANDED_BACK]
