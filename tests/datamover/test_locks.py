"""Lock files: refresh, staleness, and what restic sees."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from datamover import locks
from datamover.backend.base import FileType
from datamover.errors import RepositoryLockedError
from datamover.gotime import GoTime
from datamover.locks import LockInfo, acquire, list_locks
from datamover.repository import Repository
from datamover.unpacked import save_unpacked

Restic = Callable[..., subprocess.CompletedProcess[str]]


def test_refresh_replaces_the_lock_file_and_restic_sees_it(
    repo: Repository, repo_dir: Path, restic: Restic
) -> None:
    lock = acquire(repo.backend, repo.key, exclusive=True)
    first = lock.name
    lock.refresh()
    assert lock.name != first
    assert [name for name, _ in list_locks(repo.backend, repo.key)] == [lock.name]
    listed = restic(repo_dir, "list", "locks", "--no-lock").stdout.split()
    assert listed == [lock.name]
    lock.release()
    assert not list(repo.backend.list(FileType.LOCKS))


def test_stale_locks_are_ignored(repo: Repository) -> None:
    old = LockInfo(
        time=GoTime.parse("2020-01-01T00:00:00Z"), exclusive=True, hostname="elsewhere", pid=1
    )
    save_unpacked(repo.backend, repo.key, FileType.LOCKS, old.to_json())
    dead = LockInfo(time=GoTime.now(), exclusive=True, hostname=socket.gethostname(), pid=2**22 + 7)
    save_unpacked(repo.backend, repo.key, FileType.LOCKS, dead.to_json())
    with repo.lock(exclusive=True) as held:
        assert held.exclusive


def test_a_zombies_lock_is_stale_and_a_live_processs_is_not() -> None:
    """A crashed process its parent has not reaped yet still answers `kill(pid, 0)`."""
    exited = subprocess.Popen(["true"])
    deadline = time.monotonic() + 30
    while _state_of(exited.pid) != "Z":  # exited, not reaped: a zombie
        assert time.monotonic() < deadline, "the child never became a zombie"
        time.sleep(0.01)
    try:
        os.kill(exited.pid, 0)  # (what restic checks: it answers)
        zombie = LockInfo(
            time=GoTime.now(), exclusive=False, hostname=socket.gethostname(), pid=exited.pid
        )
        assert zombie.is_stale()
    finally:
        exited.wait()
    assert zombie.is_stale()  # reaped: gone
    alive = LockInfo(
        time=GoTime.now(), exclusive=False, hostname=socket.gethostname(), pid=os.getpid()
    )
    assert not alive.is_stale()


def _state_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_a_lock_checked_later_sees_a_racing_exclusive_lock(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "WAIT_BEFORE_CHECK_S", 1.0)  # room for the racer below
    with repo.lock(exclusive=False, check_later=True) as held:
        # Another writer's exclusive lock appears during the pause before the second look.
        racer = LockInfo(
            time=GoTime.now(), exclusive=True, hostname=socket.gethostname(), pid=os.getpid()
        )
        save_unpacked(repo.backend, repo.key, FileType.LOCKS, racer.to_json())
        with pytest.raises(RepositoryLockedError, match="already locked"):
            held.confirm()
        with pytest.raises(RepositoryLockedError):
            repo.confirm_locks()


def test_a_lock_checked_later_is_confirmed_when_alone(repo: Repository) -> None:
    with repo.lock(exclusive=False, check_later=True) as held:
        held.confirm()
        repo.confirm_locks()
        assert [name for name, _ in list_locks(repo.backend, repo.key)] == [held.name]
    assert not list(repo.backend.list(FileType.LOCKS))
