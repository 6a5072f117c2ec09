"""restic's repository locks (``internal/restic/lock.go``).

Any number of non-exclusive locks may coexist; an exclusive lock (gc, prune) excludes all
others. A lock file older than 30 minutes, or left by a dead process on this host, is
stale and ignored; a held lock is rewritten every 5 minutes so it never goes stale.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from pydantic import BaseModel

from datamover.backend.base import Backend, FileType
from datamover.crypto import MasterKey
from datamover.errors import DatamoverError, RepositoryLockedError
from datamover.gotime import GoTime
from datamover.jsonfmt import dumps
from datamover.unpacked import load_unpacked, save_unpacked

log = structlog.get_logger(__name__)

STALE_AFTER_S = 30 * 60
REFRESH_EVERY_S = 5 * 60
WAIT_BEFORE_CHECK_S = 0.2
"""Pause between writing our lock and looking again, so a racing writer's lock shows up."""


class LockInfo(BaseModel):
    time: GoTime
    exclusive: bool
    hostname: str = ""
    username: str = ""
    pid: int = 0
    uid: int = 0
    gid: int = 0

    def to_json(self) -> bytes:
        doc = self.model_dump(mode="json")
        for key in ("uid", "gid"):
            if not doc[key]:
                del doc[key]
        return dumps(doc)

    def is_stale(self) -> bool:
        if time.time_ns() - self.time.unix_ns > STALE_AFTER_S * 1_000_000_000:
            return True
        if self.hostname != socket.gethostname():
            return False
        return _has_exited(self.pid)

    def describe(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        return (
            f"{kind} lock of PID {self.pid} on {self.hostname} by {self.username} since {self.time}"
        )


def _has_exited(pid: int) -> bool:
    """Whether a process of this host is gone, or a zombie: it has exited and its parent
    has not reaped it yet. A zombie still answers `kill(pid, 0)`, as restic checks, but it
    refreshes no lock; one left by a crashed agent whose parent is slow to reap would
    otherwise hold off every gc for half an hour."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            fields = stat_file.read()
    except FileNotFoundError:  # reaped meanwhile
        return True
    except OSError:  # no /proc here: as restic, alive
        return False
    # "pid (comm) state ...": the name may hold spaces and parentheses, the state follows
    # the last parenthesis.
    return fields.rpartition(b")")[2].split()[:1] in ([b"Z"], [b"X"])


def _new_info(exclusive: bool) -> LockInfo:
    try:
        username = getpass.getuser()
    except (KeyError, OSError):
        username = ""
    return LockInfo(
        time=GoTime.now(),
        exclusive=exclusive,
        hostname=socket.gethostname(),
        username=username,
        pid=os.getpid(),
        uid=os.getuid(),
        gid=os.getgid(),
    )


def list_locks(
    backend: Backend, key: MasterKey, *, besides: str | None = None
) -> Iterator[tuple[str, LockInfo]]:
    """Readable locks (other than `besides`, not even read); unreadable ones are skipped,
    as restic does."""
    for info in backend.list(FileType.LOCKS):
        if info.size == 0 or info.name == besides:
            continue
        try:
            data = load_unpacked(backend, key, FileType.LOCKS, info.name)
            yield info.name, LockInfo.model_validate_json(data)
        except (DatamoverError, ValueError) as exc:
            log.warning("ignoring unreadable lock", lock=info.name, error=str(exc))


class Lock:
    """A lock held by this process; a daemon thread refreshes it until release."""

    def __init__(self, backend: Backend, key: MasterKey, exclusive: bool) -> None:
        self._backend = backend
        self._key = key
        self.exclusive = exclusive
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self.name = self._write()
        self._refresher: threading.Thread | None = None
        self._checked = threading.Event()
        self._checked.set()
        self._conflict: str | None = None

    def check_later(self) -> None:
        """Look for a racing lock after the pause in a thread, instead of waiting here:
        the holder works meanwhile and calls `confirm` before it changes the repository."""
        self._checked.clear()
        threading.Thread(target=self._check, name="lock-check", daemon=True).start()

    def _check(self) -> None:
        try:
            time.sleep(WAIT_BEFORE_CHECK_S)
            self._conflict = _conflict(self._backend, self._key, self.exclusive, self.name)
        except BaseException as exc:  # an unreadable repository is a conflict too
            self._conflict = f"cannot check the locks of {self._backend.location}: {exc}"
        finally:
            self._checked.set()

    def confirm(self) -> None:
        """Wait for a pending check; RepositoryLockedError if another lock conflicts."""
        self._checked.wait()
        if self._conflict is not None:
            raise RepositoryLockedError(self._conflict)

    def _write(self) -> str:
        return save_unpacked(
            self._backend, self._key, FileType.LOCKS, _new_info(self.exclusive).to_json()
        )

    def start_refreshing(self, every_s: float = REFRESH_EVERY_S) -> None:
        self._refresher = threading.Thread(
            target=self._refresh_loop, args=(every_s,), name="lock-refresh", daemon=True
        )
        self._refresher.start()

    def _refresh_loop(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.refresh()
            except DatamoverError as exc:
                log.warning("lock refresh failed", lock=self.name, error=str(exc))

    def refresh(self) -> None:
        """Write a lock file with a new time, then drop the old one."""
        with self._mutex:
            if self._stop.is_set():
                return
            old, self.name = self.name, self._write()
            self._backend.remove(FileType.LOCKS, old)

    def release(self) -> None:
        self._stop.set()
        if self._refresher is not None and self._refresher is not threading.current_thread():
            self._refresher.join(timeout=60)
        with self._mutex:
            self._backend.remove(FileType.LOCKS, self.name)


def _conflict(backend: Backend, key: MasterKey, exclusive: bool, own: str | None) -> str | None:
    for _, other in list_locks(backend, key, besides=own):
        if other.is_stale():
            continue
        if exclusive or other.exclusive:
            return f"repository {backend.location} is already locked: {other.describe()}"
    return None


def acquire(
    backend: Backend, key: MasterKey, *, exclusive: bool, check_later: bool = False
) -> Lock:
    """Take a lock or raise RepositoryLockedError naming the conflicting lock.

    As restic does, the locks are looked at again after a pause, for a writer that took
    its lock at the same moment. With `check_later`, that second look happens in the
    background and the caller must `confirm` the lock before it writes anything that
    matters (a backup's snapshot); the 0.2 s pause then costs nothing."""
    conflict = _conflict(backend, key, exclusive, None)
    if conflict:
        raise RepositoryLockedError(conflict)
    lock = Lock(backend, key, exclusive)
    if check_later:
        lock.check_later()
    else:
        time.sleep(WAIT_BEFORE_CHECK_S)
        conflict = _conflict(backend, key, exclusive, lock.name)
        if conflict:
            lock.release()
            raise RepositoryLockedError(conflict)
    lock.start_refreshing()
    return lock


@contextmanager
def locked(
    backend: Backend, key: MasterKey, *, exclusive: bool, check_later: bool = False
) -> Iterator[Lock]:
    lock = acquire(backend, key, exclusive=exclusive, check_later=check_later)
    try:
        yield lock
    finally:
        lock.release()
