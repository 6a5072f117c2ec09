"""The memory budget: how many bytes may be in flight so the process stays under its limit.

The data mover's limit (512 MiB to 8 GiB) is split into a fixed part (the interpreter and its
libraries, the repository's pack buffers) and two budgets that bound what scales with the
work: read buffers of open files, and chunks between the read and the pack. They are two
budgets, not one, so that readers holding buffers can never starve the chunks that free them.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pydantic import BaseModel, ConfigDict, Field

from datamover.limits import MAX_LIMIT_MIB, MIN_LIMIT_MIB

MiB = 1024 * 1024


# Interpreter, boto3, pydantic, cryptography, thread stacks, allocator slack (measured: an
# idle backup process is ~90 MiB).
_BASELINE = 160 * MiB
# A chunk in a worker exists up to three times at once: plaintext, compressed, encrypted.
_COPIES_PER_CHUNK = 3


class ByteBudget:
    """A counting semaphore in bytes. A request larger than the whole budget is clipped to it,
    so one oversized item still proceeds alone instead of waiting forever."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("budget capacity must be positive")
        self.capacity = capacity
        self._free = capacity
        self._cond = threading.Condition()

    def acquire(self, n: int) -> int:
        """Wait until `n` bytes are free, take them, and return what must be released."""
        n = max(0, min(n, self.capacity))
        with self._cond:
            self._cond.wait_for(lambda: self._free >= n)
            self._free -= n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self._free += n
            self._cond.notify_all()

    @property
    def in_use(self) -> int:
        with self._cond:
            return self.capacity - self._free

    @contextmanager
    def reserve(self, n: int) -> Iterator[None]:
        taken = self.acquire(n)
        try:
            yield
        finally:
            self.release(taken)


class MemoryPlan(BaseModel):
    """How a memory limit is spent; all figures in bytes."""

    model_config = ConfigDict(frozen=True)

    limit: int
    fixed: int = Field(description="interpreter baseline plus the repository's pack buffers")
    read_buffers: int = Field(description="budget for the read buffers of open files")
    in_flight: int = Field(description="budget for chunks between read and pack")

    def budgets(self) -> tuple[ByteBudget, ByteBudget]:
        """Fresh (read buffers, in-flight chunks) semaphores for one run."""
        return ByteBudget(self.read_buffers), ByteBudget(self.in_flight)


def plan_memory(
    limit_mib: int,
    *,
    pack_size: int,
    pack_buffers: int,
    max_chunk: int,
    workers: int,
    index: int = 0,
    unbudgeted: int = 0,
) -> MemoryPlan:
    """Split `limit_mib` between fixed costs and the two budgets.

    `pack_buffers` is how many packs the repository may hold in memory at once (open plus
    pending uploads); `index` is the repository's loaded index (it grows with the
    repository, ~200 bytes a blob); `unbudgeted` is other memory the caller holds outside
    both budgets (small files read whole, at most one per file thread). The rest is
    shared: the in-flight budget first gets room for every worker to hold a maximal chunk
    in all its copies, then both budgets split what is left.
    """
    if not MIN_LIMIT_MIB <= limit_mib <= MAX_LIMIT_MIB:
        raise ValueError(f"memory limit must be {MIN_LIMIT_MIB}..{MAX_LIMIT_MIB} MiB")
    limit = limit_mib * MiB
    fixed = _BASELINE + pack_size * pack_buffers + index + unbudgeted
    rest = limit - fixed - workers * _COPIES_PER_CHUNK * max_chunk
    if rest < 4 * max_chunk:
        raise ValueError(
            f"a memory limit of {limit_mib} MiB is too small for {pack_buffers} pack buffers "
            f"of {pack_size // MiB} MiB, {workers} workers and the repository's index of "
            f"{index / MiB:.0f} MiB"
        )
    # Chunks in flight are counted once (their plaintext); the extra copies are held by the
    # workers only, which the reservation above covers.
    return MemoryPlan(limit=limit, fixed=fixed, read_buffers=rest // 2, in_flight=rest // 2)


MAX_PROCESSES = 8
"""Worker processes (see `datamover.workerpool`) a backup or restore starts by default, at
most."""


def plan_with_workers(
    wanted: int | None, per_worker: int, plan: Callable[[int], MemoryPlan]
) -> tuple[int, MemoryPlan]:
    """How many worker processes fit, and the plan with them: `plan` takes the bytes they
    cost. `wanted` must fit; without it, one per usable CPU (at most `MAX_PROCESSES`),
    fewer if the limit is tight (none at all costs speed only)."""
    processes = most_processes(wanted)
    while True:
        try:
            return processes, plan(processes * per_worker)
        except ValueError:
            if wanted is not None or processes == 0:
                raise
            processes -= 1


def most_processes(wanted: int | None) -> int:
    """The worker processes a run may have, before its memory plan: `wanted`, or one per
    usable CPU (at most `MAX_PROCESSES`)."""
    return wanted if wanted is not None else min(usable_cpus(), MAX_PROCESSES)


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity (a container's cpuset), and a cgroup v2
    CPU quota (a Kubernetes CPU limit), not the host's count."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus


_YOUNG_OBJECTS = 50_000
"""Objects allocated between two collections of the youngest generation during a run
(Python's default is 700)."""


_runs_lock = threading.Lock()
_runs = 0
"""Backups and restores under way in this process (a worker runs several at once)."""
_thresholds_before = gc.get_threshold()


@contextmanager
def long_lived_objects_left_alone() -> Iterator[None]:
    """Keep the cycle collector off what a backup or restore builds to keep.

    What exists now (modules, the repository's index: a tuple per blob) lives as long as
    the run: frozen, the collector stops scanning it again at every full collection (5-7%
    of a backup or restore of many small files). Most of what the run allocates lives to
    its end too (a restore's plan, a backup's tree nodes) and holds no cycles: collected
    after every 700 new objects, it was scanned a few times over before it grew old
    (restoring 100,000 files: 1,750 collections, 0.3 s; an incremental backup of them:
    0.14 s of 1 s). A restore freezes its plan as it goes (see `Restorer._flush`).

    Both are undone when the last run of the process ends, not before: one run ending
    must not unfreeze the objects of another still under way."""
    global _runs, _thresholds_before  # (the process's collector is global)
    with _runs_lock:
        if _runs == 0:
            _thresholds_before = gc.get_threshold()
            gc.set_threshold(_YOUNG_OBJECTS, *_thresholds_before[1:])
        _runs += 1
        gc.freeze()
    try:
        yield
    finally:
        with _runs_lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_thresholds_before)
                gc.unfreeze()


_M_ARENA_MAX = -8


def limit_allocator_arenas() -> None:
    """Keep glibc from giving every thread its own heap arena.

    With one arena per thread (up to 8 per core), MiB-sized buffers freed by one thread are
    not reused by the others, and the RSS grows far past the bytes actually in flight. Two
    arenas keep it close to the budget (measured: 390 MiB -> 280 MiB on a 256 MiB backup).
    A low fixed mmap threshold would return freed buffers even sooner, but every buffer
    then costs fresh page faults: a third more system time for little RSS. No-op off glibc.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return
    mallopt(_M_ARENA_MAX, 2)
