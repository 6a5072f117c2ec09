"""Small files read and sealed in worker processes, as the backup's process would."""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import pytest

from datamover import compression
from datamover.crypto import MasterKey
from datamover.ids import hash_bytes
from datamover.smallfiles import (
    GROWN,
    SEALED,
    UNREADABLE,
    SealSettings,
    SmallFileResult,
    SmallFileWorkers,
    _worker_environment,
    read_and_seal,
)

LIMIT = 4096


def _settings() -> SealSettings:
    return SealSettings(MasterKey.random(), compression.DEFAULT_LEVEL, LIMIT)


def _collect(
    workers: SmallFileWorkers, batches: list[list[tuple[bytes, str, int]]]
) -> list[list[SmallFileResult] | BaseException]:
    answers: dict[int, list[SmallFileResult] | BaseException] = {}
    done = threading.Semaphore(0)

    def answer(index: int, results: list[SmallFileResult] | BaseException) -> None:
        answers[index] = results
        done.release()

    for index, batch in enumerate(batches):
        workers.submit(batch, functools.partial(answer, index))
    for _ in batches:
        assert done.acquire(timeout=60)
    return [answers[i] for i in range(len(batches))]


def test_workers_seal_what_this_process_would(tmp_path: Path) -> None:
    settings = _settings()
    files = {f"f{i:03d}": os.urandom(i * 7) + b"text " * i for i in range(60)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    batch = [(os.fsencode(tmp_path / name), name, len(data)) for name, data in files.items()]

    workers = SmallFileWorkers(settings, 2)
    try:
        answers = _collect(workers, [batch[:20], batch[20:40], batch[40:]])
    finally:
        workers.close()

    results = [result for answer in answers for result in answer]  # type: ignore[union-attr]
    for (path, name, size), result in zip(batch, results, strict=True):
        here = read_and_seal(path, name, size, settings)
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
    workers = SmallFileWorkers(_settings(), 1)
    try:
        (answer,) = _collect(workers, [batch])
    finally:
        workers.close()

    assert isinstance(answer, list)
    assert answer[0] == (UNREADABLE, f"{tmp_path / 'gone'} vanished before it was read")
    assert answer[1] == (GROWN,)
    assert answer[2][0] == UNREADABLE and "dir" in answer[2][1]
    assert all(result[0] != SEALED for result in answer)


def test_a_dead_worker_fails_its_batches(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    batch = [(os.fsencode(tmp_path / "f"), "f", 4)]
    workers = SmallFileWorkers(_settings(), 1)
    try:
        (first,) = _collect(workers, [batch])
        assert isinstance(first, list)
        workers._workers[0].kill()
        answers = _collect(workers, [batch, batch, batch])
    finally:
        workers.close()

    assert all(isinstance(answer, Exception) for answer in answers)
    assert "small-file worker failed" in str(answers[0])


def test_workers_get_no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
    monkeypatch.setenv("LIFEBOAT_PASSWORD", "secret-password")

    env = _worker_environment()

    assert "secret" not in repr(env)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(__file__).parents[2])
