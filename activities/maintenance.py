"""The control worker's part of repository maintenance: garbage collection, a sampled
check and the stats, each on a freshly opened repository.

Each step takes the repository's restic lock (exclusive for gc, shared for the others);
a lock held by a backup or restore is reported as a `RepositoryLocked` failure that the
workflow waits out, so maintenance never breaks a writer. The steps are long and
report nothing as they go, so a thread heartbeats for them: a dead worker is noticed
within the heartbeat timeout.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.repository import open_repository
from datamover.check import check
from datamover.errors import (
    BlobCorruptedError,
    PackCorruptedError,
    RepositoryLockedError,
    RepositoryNotFoundError,
)
from datamover.prune import gc
from datamover.repository import Repository
from datamover.stats import repository_stats
from lifeboat.config import LifeboatConfig
from lifeboat.contracts.maintenance import (
    REPOSITORY_LOCKED,
    CheckRepositoryInput,
    CollectGarbageInput,
    GarbageCollection,
    RepositoryCheck,
    RepositoryStats,
    RepositoryStatsInput,
)

HEARTBEAT_EVERY_S = 5.0
PROBLEMS_SHOWN = 20


@contextmanager
def heartbeating(step: str, every_s: float = HEARTBEAT_EVERY_S) -> Iterator[None]:
    """Heartbeat from a thread while the step runs; the activity's context goes along,
    as `activity.heartbeat` only works inside it."""
    context = contextvars.copy_context()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every_s):
            context.run(activity.heartbeat, step)

    thread = threading.Thread(target=beat, name=f"heartbeat-{step}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


class MaintenanceActivities:
    def __init__(self, config: LifeboatConfig) -> None:
        self.config = config

    def all(self) -> list[Callable[..., object]]:
        return [self.collect_garbage, self.check_repository, self.repository_stats]

    @contextmanager
    def _repository(self, storage_location: str, step: str) -> Iterator[Repository]:
        """The location's repository, with the data mover's errors named for the workflow."""
        try:
            location = self.config.storage_location(storage_location)
        except KeyError as exc:
            raise ApplicationError(
                str(exc.args[0]), type="InvalidRequest", non_retryable=True
            ) from None
        try:
            with heartbeating(step), open_repository(location) as repo:
                yield repo
        except RepositoryLockedError as exc:
            raise ApplicationError(str(exc), type=REPOSITORY_LOCKED) from None
        except RepositoryNotFoundError as exc:
            # The first backup to the location creates it; until then there is nothing to do.
            raise ApplicationError(
                f"{exc}: nothing to maintain before the first backup",
                type="RepositoryNotFound",
                non_retryable=True,
            ) from None
        except (BlobCorruptedError, PackCorruptedError) as exc:
            # Retrying reads the same damaged data; `check --read-data` says what to repair.
            raise ApplicationError(
                f"{step} stopped at damaged data: {exc}",
                type="RepositoryDamaged",
                non_retryable=True,
            ) from None

    @activity.defn(name="maintenance.collect_garbage")
    def collect_garbage(self, inp: CollectGarbageInput) -> GarbageCollection:
        """Under the exclusive lock, which no backup or restore holds at the same time."""
        with self._repository(inp.storage_location, "gc") as repo:
            result = gc(repo, safety_margin=inp.safety_margin)
        return GarbageCollection.model_validate(
            result.model_dump(include=set(GarbageCollection.model_fields))
        )

    @activity.defn(name="maintenance.check")
    def check_repository(self, inp: CheckRepositoryInput) -> RepositoryCheck:
        """Under a shared lock: backups may go on, but no gc deletes packs under it."""
        with self._repository(inp.storage_location, "check") as repo, repo.lock(exclusive=False):
            result = check(repo, read_data_percent=inp.read_data_percent)
        return RepositoryCheck(
            snapshots_checked=result.snapshots_checked,
            packs_checked=result.packs_checked,
            packs_read=result.packs_read,
            blobs_read=result.blobs_read,
            unindexed_packs=len(result.unindexed_packs),
            problems=[p.message for p in result.problems[:PROBLEMS_SHOWN]],
            problem_count=len(result.problems),
        )

    @activity.defn(name="maintenance.stats")
    def repository_stats(self, inp: RepositoryStatsInput) -> RepositoryStats:
        with self._repository(inp.storage_location, "stats") as repo, repo.lock(exclusive=False):
            stats = repository_stats(repo)
        return RepositoryStats.model_validate(
            stats.model_dump(include=set(RepositoryStats.model_fields))
        )
