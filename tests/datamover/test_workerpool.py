"""Worker processes: requests answered in order, a dead worker fails what it had, no
secrets in a worker's environment."""

from __future__ import annotations

import fcntl
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datamover.workerpool import (
    PIPE_BYTES,
    StartedWorkers,
    WorkerFailedError,
    WorkerPool,
    worker_environment,
)

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


def test_a_workers_pipes_hold_a_large_answer() -> None:
    """Both pipes of a worker get `PIPE_BYTES` of buffer (64 KiB by default: an answer of
    half a MiB crossed in pieces, each side woken for every one)."""
    pool = WorkerPool(ECHO, None, 1)
    try:
        (worker,) = pool._workers
        for connection in (worker._requests, worker._answers):
            assert fcntl.fcntl(connection.fileno(), fcntl.F_GETPIPE_SZ) == PIPE_BYTES
        assert pool.map([b"x" * PIPE_BYTES]) == [(None, b"x" * PIPE_BYTES)]
    finally:
        pool.close()


def test_buffers_travel_beside_the_pickle() -> None:
    """`PickleBuffer`s in a request reach the worker as bytes, in order, out of band; the
    rest of the request is pickled as usual."""
    pool = WorkerPool(ECHO, None, 1)
    try:
        big, small = os.urandom(3 * 1024 * 1024), b"tiny"
        request = ("pack", pickle.PickleBuffer(big), [pickle.PickleBuffer(small), b"inline"])
        ((_, echoed),) = pool.map([request])
    finally:
        pool.close()
    assert echoed == ("pack", big, [small, b"inline"])


def test_workers_started_before_their_setup_serve_the_pool_that_takes_them() -> None:
    """Started workers load their handler's module while the setup is still unknown (a
    restore's key, its index); the pool that takes them sends it, and starts only the
    workers it lacks."""
    started = StartedWorkers(ECHO, 2)
    pids = [worker._process.pid for worker in started._workers]
    time.sleep(0.5)  # loading: they have no setup yet, and wait for it
    assert all(worker._process.poll() is None for worker in started._workers)
    pool = WorkerPool(ECHO, "known now", 3, started=started)
    try:
        assert [worker._process.pid for worker in pool._workers][:2] == pids
        assert pool.map(list(range(9))) == [("known now", n) for n in range(9)]
    finally:
        pool.close()
    assert started.take(2) == []


def test_started_workers_no_pool_takes_are_stopped() -> None:
    started = StartedWorkers(ECHO, 3)
    processes = [worker._process for worker in started._workers]
    started.keep(2)  # fewer fit: the third stops at once
    assert processes[2].wait(timeout=10) is not None
    pool = WorkerPool(ECHO, None, 1, started=started)
    try:
        assert pool.map([1]) == [(None, 1)]
    finally:
        pool.close()
    started.close()  # the one not taken
    assert processes[1].wait(timeout=10) is not None
    assert processes[0].poll() is not None  # (the pool's, stopped by the pool)


def test_a_pool_takes_no_workers_started_for_another_handler() -> None:
    started = StartedWorkers(ECHO, 1)
    try:
        with pytest.raises(ValueError, match="another handler"):
            WorkerPool("datamover.filewrite:whole_file_writer", None, 1, started=started)
    finally:
        started.close()


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


_ORPHANING_PARENT = """
import time
from datamover.workerpool import WorkerPool
pool = WorkerPool("datamover.workerpool:echo", None, 2)
print(" ".join(str(worker._process.pid) for worker in pool._workers), flush=True)
for _ in range(8):  # answers larger than a pipe, which nobody reads
    pool.submit(b"x" * (4 << 20), lambda answer: time.sleep(3600))
time.sleep(3600)
"""


def test_workers_of_a_killed_parent_exit_quietly() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHANING_PARENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None and parent.stderr is not None
    pids = [int(pid) for pid in parent.stdout.readline().split()]
    time.sleep(1)  # the workers are writing answers nobody reads
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in pids)
    assert "Traceback" not in parent.stderr.read()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan is reaped by whoever adopts it, maybe later)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status and "State:\tX" not in status


@pytest.mark.parametrize(
    "handler", ["datamover.backupworker:backup_work", "datamover.filewrite:whole_file_writer"]
)
def test_a_workers_handler_starts_without_pydantic_or_structlog(handler: str) -> None:
    """A worker imports only its handler's module (~0.1 s): pydantic and structlog would
    triple each worker's start, paid again by every backup and restore that starts them."""
    module = handler.split(":")[0]
    heavy = ("pydantic", "structlog", "rich")
    code = (
        f"import sys, {module}; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
