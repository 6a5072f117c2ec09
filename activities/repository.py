"""Open the restic-format repository of a `StorageLocation`, resolving its secret references.

Secrets are read here, on the worker that needs them, and registered with the log redactor
before anything can print them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog
from temporalio import activity

from datamover.backend import open_backend
from datamover.cache import RepositoryCache, default_cache_dir
from datamover.errors import RepositoryExistsError, RepositoryLockedError, RepositoryNotFoundError
from datamover.repository import Repository
from lifeboat.logging_setup import register_secret
from lifeboat.models import StorageLocation

log = structlog.get_logger(__name__)
T = TypeVar("T")
LOCK_POLL_SECONDS = 5.0


def _credentials(location: StorageLocation) -> tuple[str | None, str | None]:
    if location.credentials is None:
        return None, None  # the default AWS chain of this worker
    access = location.credentials.access_key_id.read().get_secret_value()
    secret = location.credentials.secret_access_key.read().get_secret_value()
    register_secret(access)
    register_secret(secret)
    return access, secret


def _password(location: StorageLocation) -> str:
    password = location.password.read().get_secret_value()
    register_secret(password)
    return password


def open_repository(
    location: StorageLocation,
    *,
    create: bool = False,
    max_pending_packs: int = 4,
    bandwidth_limit_mib: int | None = None,
    index_later: bool = False,
) -> Repository:
    """The location's repository; with `create`, initialise it when it does not exist yet.
    `bandwidth_limit_mib` caps both writes and reads, in MiB/s. `index_later`: the index is
    read in the background (see `Repository.open`), as a restore wants it."""
    access, secret = _credentials(location)
    rate = bandwidth_limit_mib << 20 if bandwidth_limit_mib else None
    backend = open_backend(
        location.repository(),
        access_key=access,
        secret_key=secret,
        region=location.region,
        upload_bytes_per_second=rate,
        download_bytes_per_second=rate,
    )
    password = _password(location)
    # The worker's local cache: key files and tree packs (incremental backups read their
    # parent's trees from it). An unwritable cache only costs speed.
    cache = RepositoryCache(default_cache_dir(), location.repository())
    try:
        return Repository.open(
            backend,
            password,
            max_pending_packs=max_pending_packs,
            cache=cache,
            index_later=index_later,
        )
    except RepositoryNotFoundError:
        if not create:
            raise
    try:
        return Repository.init(backend, password, max_pending_packs=max_pending_packs, cache=cache)
    except RepositoryExistsError:  # another worker initialised it a moment ago
        return Repository.open(backend, password, max_pending_packs=max_pending_packs, cache=cache)


def when_unlocked(wait_seconds: float, work: Callable[[], T]) -> T:
    """`work`, once no other process holds the repository exclusively.

    Garbage collection locks a repository exclusively for a while; work that starts then
    waits for it (as restic's ``--retry-lock`` does), heartbeating the previous attempt's
    details so its checkpoint survives, instead of spending its retries. After
    `wait_seconds` the lock error fails the attempt and the workflow's retries take over.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return work()
        except RepositoryLockedError as exc:
            if time.monotonic() >= deadline:
                raise
            log.info("repository.waiting_for_lock", reason=str(exc))
            if activity.in_activity():
                activity.heartbeat(*activity.info().heartbeat_details)
            time.sleep(LOCK_POLL_SECONDS)
