"""What the repository needs from storage: whole-file writes, ranged reads, listing."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class FileType(StrEnum):
    """The kinds of repository files; the value is the directory name in restic's layout."""

    CONFIG = "config"
    KEYS = "keys"
    LOCKS = "locks"
    SNAPSHOTS = "snapshots"
    INDEX = "index"
    DATA = "data"


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    size: int
    mtime: float
    """Seconds since the epoch; garbage collection keeps files younger than its margin."""


def relative_path(file_type: FileType, name: str) -> str:
    """restic's default layout: ``config``, ``data/<first 2 hex>/<id>``, ``<type>/<id>``."""
    if file_type is FileType.CONFIG:
        return "config"
    if file_type is FileType.DATA:
        return f"data/{name[:2]}/{name}"
    return f"{file_type.value}/{name}"


Ranges = Sequence[tuple[int, int]]
"""(offset, length) ranges of a file, ascending and apart."""
IntoMemory = Callable[[int], "memoryview | None"]
"""Memory to read a range of this length into, or None (see `Backend.load_ranges`)."""
RangeStream = Generator["bytes | memoryview", None, None]


@runtime_checkable
class Backend(Protocol):
    """A place to keep repository files. Implementations are safe to use from many threads.

    Writes are atomic (a reader sees the whole file or nothing) and files are never
    modified after they are written; errors are the types in ``datamover.errors``.
    """

    @property
    def location(self) -> str:
        """Where the repository is, for messages (never with credentials)."""
        ...

    def save(self, file_type: FileType, name: str, data: bytes | bytearray) -> None: ...

    def load(self, file_type: FileType, name: str, offset: int = 0, length: int = -1) -> bytes:
        """The whole file, or ``length`` bytes from ``offset`` (-1: to the end)."""
        ...

    def load_ranges(
        self, file_type: FileType, name: str, ranges: Ranges, into: IntoMemory | None = None
    ) -> RangeStream:
        """Each (offset, length) range, ascending and apart, read in turn with one request
        from the first to the end of the last: a long stretch of a pack without holding it
        whole. A range is short only where the file ends. `into`, called with a range's
        length just before it is read, may give memory to read it into (at least that
        long): the range is then yielded as a view of it, else as bytes."""
        ...

    def stat(self, file_type: FileType, name: str) -> FileInfo: ...

    def exists(self, file_type: FileType, name: str) -> bool: ...

    def list(self, file_type: FileType) -> Iterator[FileInfo]: ...

    def remove(self, file_type: FileType, name: str) -> None:
        """Delete a file; deleting a file that is already gone is not an error."""
        ...

    def create_layout(self) -> None:
        """Prepare an empty repository (directories, or check the bucket is there)."""
        ...

    def close(self) -> None: ...
