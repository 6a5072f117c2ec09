"""Memory shared with worker processes: slots taken and given back, and bytes of a slot
reaching a worker as a view of its own mapping, not through its pipe."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from datamover.sharedmemory import SharedBytes, SharedSlots
from datamover.workerpool import WorkerPool


def _slots(slot_size: int, count: int) -> SharedSlots:
    slots = SharedSlots.create(slot_size, count)
    assert slots is not None  # (Linux has memfd_create)
    return slots


def test_a_slot_is_taken_until_given_back() -> None:
    slots = _slots(4096, 2)
    try:
        taken = {slots.acquire(), slots.acquire()}
        assert taken == {0, 1}
        assert slots.acquire() == -1  # none free: the caller sends its bytes another way
        slots.release(1)
        assert slots.acquire() == 1
    finally:
        slots.close()


def test_a_slots_view_is_its_own_and_no_longer_than_the_slot() -> None:
    slots = _slots(4096, 2)
    try:
        slots.view(0, 4096)[:] = b"a" * 4096
        slots.view(1, 10)[:] = b"b" * 10
        assert bytes(slots.view(0, 5000)) == b"a" * 4096
        assert bytes(slots.view(1, 12)) == b"b" * 10 + bytes(2)
        assert slots.shared(1, 3, 5) == SharedBytes(4096 + 3, 5)
    finally:
        slots.close()


def test_a_worker_reads_shared_bytes_where_they_are() -> None:
    """Pickled, a `SharedBytes` is two numbers; the worker that mapped the memory finds
    the bytes there."""
    slots = _slots(1 << 20, 2)
    pool = WorkerPool("datamover.workerpool:echo", None, 1, slots.fd)
    try:
        slots.view(1, 1 << 20)[:] = bytes(range(256)) * 4096
        shared = slots.shared(1, 1000, 300_000)
        assert len(pickle.dumps(shared)) < 100
        ((_, echoed),) = pool.map([shared])
    finally:
        pool.close()
        slots.close()
    assert echoed == (bytes(range(256)) * 4096)[1000:301_000]


def test_shared_bytes_need_the_memory_mapped() -> None:
    with pytest.raises(RuntimeError, match="no shared memory"):
        pickle.loads(pickle.dumps(SharedBytes(0, 10)))  # noqa: S301 - (this process mapped none)


def test_closing_with_a_view_left_unmaps_once_it_goes() -> None:
    """A view still held (an error's traceback may hold one) does not make closing fail."""
    slots = _slots(4096, 1)
    view = slots.view(0, 10)
    slots.close()
    view[:] = b"0123456789"  # still mapped
    assert bytes(view) == b"0123456789"
    slots.close()  # (again: nothing)


def test_no_slots_where_the_system_refuses_them() -> None:
    """A file size limit (a restore's full-disk test sets one) applies to the memory too:
    then there are no slots, and the caller does without."""
    code = (
        "import resource; from datamover.sharedmemory import SharedSlots; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)); "
        "import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "print(SharedSlots.create(4 << 20, 4), SharedSlots.create(1024, 4) is not None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["None", "True"]
