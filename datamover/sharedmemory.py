"""Memory shared with the worker processes (`datamover.workerpool`), in fixed-size slots: a
restore's pieces of packs reach a worker as views of it instead of through its pipe.

Through a pipe, every byte was copied into the pipe by this process and out of it by the
worker, a pipe's buffer at a time, each side woken for every piece: the small files'
restore sends its workers half a gigabyte, which cost 0.45-0.8 s of CPU (measured) of a
restore that takes ~10 core-seconds in all. A piece is read into a slot here, and the worker
reads its blobs where they are.

The memory is a `memfd` (Linux): a file with no name that the workers inherit as a
descriptor, not a name in /dev/shm that a crash would leave behind. Elsewhere there is
none, and the pipes carry the bytes as before.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
from typing import NamedTuple


class SharedSlots:
    """`count` slots of `slot_size` bytes, taken and given back by the threads that fill
    them; this process writes them, the workers only read."""

    def __init__(self, fd: int, slot_size: int, count: int) -> None:
        self.fd = fd
        self.slot_size = slot_size
        self._memory = mmap.mmap(fd, slot_size * count)
        self._view = memoryview(self._memory)
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(count):
            self._free.put(slot)

    @classmethod
    def create(cls, slot_size: int, count: int) -> SharedSlots | None:
        """Slots (their pages taken only once written), or None where there can be none:
        no `memfd_create`, or the system refuses (a file size limit, `RLIMIT_FSIZE`, counts
        the memory as a file's size; no descriptor or memory left). Callers then do
        without."""
        memfd_create = getattr(os, "memfd_create", None)
        if memfd_create is None:
            return None
        try:
            fd = memfd_create("lifeboat-shared", os.MFD_CLOEXEC)
        except OSError:
            return None
        try:
            os.ftruncate(fd, slot_size * count)
            return cls(fd, slot_size, count)
        except OSError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise

    def acquire(self) -> int:
        """A free slot, or -1 if none is free."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return -1

    def release(self, slot: int) -> None:
        self._free.put(slot)

    def view(self, slot: int, length: int) -> memoryview:
        """The first `length` bytes of a slot, to write into (and read back)."""
        start = slot * self.slot_size
        return self._view[start : start + min(length, self.slot_size)]

    def shared(self, slot: int, start: int, length: int) -> SharedBytes:
        """Bytes of a slot as a worker will see them (see `SharedBytes`)."""
        return SharedBytes(slot * self.slot_size + start, length)

    def close(self) -> None:
        """Close the memory (once the workers have exited); it is unmapped now, or when the
        last view of it goes (one an error's traceback holds). Closing again does nothing."""
        if self.fd < 0:
            return
        self._view.release()
        with contextlib.suppress(BufferError):
            self._memory.close()
        os.close(self.fd)
        self.fd = -1


class SharedBytes(NamedTuple):
    """Bytes of the shared memory, by where they are. Pickled as that, they unpickle in a
    worker as a read-only view of its mapping (see `attach`)."""

    offset: int
    length: int

    def __reduce__(self) -> tuple[object, tuple[int, int]]:
        return attached_view, (self.offset, self.length)


_attached: memoryview | None = None
"""In a worker process: its read-only mapping of its parent's shared memory."""


def attach(fd: int) -> None:
    """Map the parent's shared memory (in a worker, before its first request)."""
    global _attached
    size = os.fstat(fd).st_size
    _attached = memoryview(mmap.mmap(fd, size, prot=mmap.PROT_READ))
    os.close(fd)  # (the mapping keeps the memory)


def attached_view(offset: int, length: int) -> memoryview:
    """The view a `SharedBytes` unpickles as."""
    if _attached is None:
        raise RuntimeError("no shared memory is attached to this process")
    return _attached[offset : offset + length]
