"""Worker processes: requests answered in order, a dead worker fails what it had, no
secrets in a worker's environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datamover.workerpool import WorkerFailedError, WorkerPool, worker_environment

ECHO = "datamover.workerpool:echo"


def test_answers_come_back_in_order_from_every_worker() -> None:
    pool = WorkerPool(ECHO, "setup", 2)
    try:
        answers = pool.map(list(range(50)))
    finally:
        pool.close()
    assert answers == [("setup", n) for n in range(50)]


def test_requests_and_answers_larger_than_a_pipe_do_not_deadlock() -> None:
    """A worker writing a large answer while its next large request is written (a
    directory's parent tree goes one way, its comparison the other) must not wait forever."""
    pool = WorkerPool(ECHO, None, 1)
    try:
        payloads = [bytes([i]) * (1024 * 1024) for i in range(6)]
        answers = pool.map(list(payloads))
    finally:
        pool.close()
    assert [answer[1] for answer in answers] == payloads


def test_a_dead_worker_fails_its_requests() -> None:
    pool = WorkerPool(ECHO, None, 1)
    try:
        assert pool.map([1]) == [(None, 1)]
        pool._workers[0].kill()
        answers = pool.map([1, 2, 3])
    finally:
        pool.close()

    assert all(isinstance(answer, WorkerFailedError) for answer in answers)
    assert "exit code -9" in str(answers[0])


def test_workers_get_no_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-key")
    monkeypatch.setenv("LIFEBOAT_PASSWORD", "secret-password")

    env = worker_environment()

    assert "secret" not in repr(env)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(__file__).parents[2])
