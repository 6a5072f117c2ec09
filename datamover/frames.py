"""Length-prefixed frames over a pipe, read into buffers that are kept and reused.

The worker processes (`datamover.workerpool`) move a restore's packs and a backup's sealed
blobs through pipes: a gigabyte each way. `multiprocessing.connection.Connection` reads a
message a pipe's buffer at a time, each piece into newly allocated memory, and copies the
pieces into a `BytesIO`: every byte was faulted in and copied twice more. Measured: 1 GiB in
4 MiB messages cost 1.35 s of CPU to receive that way, 0.31 s read into one kept buffer.

A frame is its length (8 bytes, little-endian) and its bytes. A writer may send raw bytes
after a frame whose content tells the reader how many follow (`FrameReader.raw`).
"""

from __future__ import annotations

import contextlib
import os
import struct

_LENGTH = struct.Struct("<Q")

Bytes = bytes | bytearray | memoryview


class FrameWriter:
    """The writing end of a pipe (owned: closed by `close`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def write(self, frame: Bytes, *trailing: Bytes) -> None:
        """One frame, then `trailing` as they are, in one system call where the pipe takes
        it all."""
        parts = [memoryview(part).cast("B") for part in (frame, *trailing)]
        parts.insert(0, memoryview(_LENGTH.pack(len(parts[0]))))
        while parts:
            written = os.writev(self._fd, parts)
            while parts and written >= len(parts[0]):
                written -= len(parts.pop(0))
            if written:
                parts[0] = parts[0][written:]

    def close(self) -> None:
        """Close the pipe (the reader then sees its end); closing twice does nothing."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class FrameReader:
    """The reading end of a pipe (owned: closed by `close`). What it returns are views of
    its own buffers, valid until the next call of the same method: a caller that keeps
    anything copies it (`pickle.loads` does)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._length = bytearray(_LENGTH.size)
        self._frames = bytearray()
        self._raw = bytearray()

    def fileno(self) -> int:
        return self._fd

    def frame(self) -> memoryview:
        """The next frame; EOFError if the pipe ended before it."""
        self._fill(memoryview(self._length))
        (size,) = _LENGTH.unpack(self._length)
        if len(self._frames) < size:
            self._frames = _grown(size)  # (not resized: a caller may still hold a view)
        view = memoryview(self._frames)[:size]
        self._fill(view)
        return view

    def raw(self, size: int) -> memoryview:
        """The next `size` bytes that follow a frame."""
        if len(self._raw) < size:
            self._raw = _grown(size)
        view = memoryview(self._raw)[:size]
        self._fill(view)
        return view

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _fill(self, view: memoryview) -> None:
        filled = 0
        while filled < len(view):
            read = os.readv(self._fd, [view[filled:]])
            if read == 0:
                raise EOFError(f"the pipe was closed ({filled} of {len(view)} bytes read)")
            filled += read


_GRANULE = 1024 * 1024


def _grown(size: int) -> bytearray:
    """A new buffer for `size` bytes, rounded up to whole MiB (below one, to a power of
    two). A buffer allocated to each new largest size was allocated anew for every range a
    few bytes longer than the last (16,779,074, 16,782,957, 16,786,834 ... bytes: a pack's
    worth each time), each time in pages the kernel faulted in and cleared: 0.3 s of system
    time per worker, restoring 100,000 files while memory was short."""
    if size > _GRANULE:
        return bytearray(-(-size // _GRANULE) * _GRANULE)
    return bytearray(1 << max(size - 1, 0).bit_length())
