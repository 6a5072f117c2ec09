"""Bandwidth limits on a backend, like restic's ``--limit-upload`` and ``--limit-download``.

A backup of a production volume shares the node's network with the workloads on it; a
limit keeps the copy from starving them. The limit applies to repository file bytes as
they are written or read, so compressed and deduplicated data count for what they cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from datamover.backend.base import Backend, FileInfo, FileType, IntoMemory, Ranges, RangeStream


class RateLimiter:
    """At most ``bytes_per_second`` on average across all threads.

    Each call reserves the next free slot of the link and sleeps until its start, so a
    16 MiB pack waits for the packs before it to have "passed", and a long idle period
    earns no burst beyond one second's worth.
    """

    def __init__(
        self,
        bytes_per_second: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if bytes_per_second <= 0:
            raise ValueError(f"bytes_per_second must be positive, not {bytes_per_second}")
        self.rate = bytes_per_second
        self._clock = clock
        self._sleep = sleep
        self._free_at = 0.0
        self._lock = threading.Lock()

    def take(self, size: int) -> None:
        with self._lock:
            now = self._clock()
            start = max(self._free_at, now - 1.0)
            self._free_at = start + size / self.rate
            wait = start - now
        if wait > 0:
            self._sleep(wait)


class ThrottledBackend:
    """A backend whose writes and reads are each held to a rate; ``None`` is unlimited."""

    def __init__(
        self,
        inner: Backend,
        *,
        upload_bytes_per_second: int | None = None,
        download_bytes_per_second: int | None = None,
    ) -> None:
        self.inner = inner
        self._upload = RateLimiter(upload_bytes_per_second) if upload_bytes_per_second else None
        self._download = (
            RateLimiter(download_bytes_per_second) if download_bytes_per_second else None
        )

    @property
    def location(self) -> str:
        return self.inner.location

    def save(self, file_type: FileType, name: str, data: bytes | bytearray) -> None:
        if self._upload is not None:
            self._upload.take(len(data))
        self.inner.save(file_type, name, data)

    def load(self, file_type: FileType, name: str, offset: int = 0, length: int = -1) -> bytes:
        data = self.inner.load(file_type, name, offset, length)
        if self._download is not None:
            self._download.take(len(data))
        return data

    def load_ranges(
        self, file_type: FileType, name: str, ranges: Ranges, into: IntoMemory | None = None
    ) -> RangeStream:
        for data in self.inner.load_ranges(file_type, name, ranges, into):
            if self._download is not None:
                self._download.take(len(data))
            yield data

    def stat(self, file_type: FileType, name: str) -> FileInfo:
        return self.inner.stat(file_type, name)

    def exists(self, file_type: FileType, name: str) -> bool:
        return self.inner.exists(file_type, name)

    def list(self, file_type: FileType) -> Iterator[FileInfo]:
        return self.inner.list(file_type)

    def remove(self, file_type: FileType, name: str) -> None:
        self.inner.remove(file_type, name)

    def create_layout(self) -> None:
        self.inner.create_layout()

    def close(self) -> None:
        self.inner.close()
