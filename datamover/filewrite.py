"""Writing restored files: created without following symlinks, zeros left as holes,
metadata applied through the open file; and the worker handler (see
`datamover.workerpool`) that verifies and writes whole one-blob files, so that a restore
of many small files is not bound by one process's GIL.
"""

from __future__ import annotations

import errno
import functools
import os
import pickle
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from datamover.blobs import BlobType, open_blob
from datamover.crypto import MasterKey
from datamover.errors import DatamoverError
from datamover.gotime import unix_ns_of
from datamover.modes import posix_permissions

if TYPE_CHECKING:
    from datamover.tree import Node


class UnsafeNameError(DatamoverError):
    """A name in the snapshot could make the restore write outside its target."""


class Metadata(NamedTuple):
    """What restore applies to a file or directory; kept instead of the whole node, so a
    plan of a million files stays small. (A tuple: it crosses a pipe to the workers.)"""

    permissions: int
    uid: int
    gid: int
    atime_ns: int
    mtime_ns: int

    @classmethod
    def of(cls, node: Node) -> Metadata:
        return cls(
            posix_permissions(node.mode),
            node.uid,
            node.gid,
            node.atime.unix_ns,
            node.mtime.unix_ns,
        )


class FileMetadata(NamedTuple):
    """A file's `Metadata` with its times still as the tree wrote them. The restore's
    planning runs for every file in one process; the times (a fifth of its work) are parsed
    by whoever applies them, for most files a worker process."""

    permissions: int
    uid: int
    gid: int
    atime: str | None
    mtime: str | None

    @classmethod
    def of(cls, node: Node) -> FileMetadata:
        return cls(
            posix_permissions(node.mode), node.uid, node.gid, node.atime.format(),
            node.mtime.format(),
        )  # fmt: skip

    def parsed(self) -> Metadata:
        """ValueError (naming the text) if a time is not an RFC 3339 time."""
        atime, mtime = parse_times(self.atime, self.mtime)
        return Metadata(self.permissions, self.uid, self.gid, atime, mtime)


def parse_times(atime: str | None, mtime: str | None) -> tuple[int, int]:
    """A file's (atime, mtime) in ns; ValueError (naming the text) if one is not an RFC
    3339 time. Most files have one time for both, parsed once."""
    mtime_ns = unix_ns_of(mtime)
    return (mtime_ns if atime == mtime else unix_ns_of(atime)), mtime_ns


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def create_file(
    name: str, dir_fd: int | None = None, permissions: int = 0o600, *, new: bool = False
) -> int:
    """Create (or truncate) a file; a symlink in its place is refused, never followed. A file
    written through this descriptor alone may be created with its final `permissions` (the
    umask applies, and set-id bits are left to `apply_metadata`); one that other
    descriptors write to later must stay writable until then. `new`: FileExistsError if
    the name is taken.

    Directories on the way were created by the plan and opened with O_NOFOLLOW, and no name
    appears twice in a directory, so only the last component needs the check."""
    flags = _CREATE | (os.O_EXCL if new else os.O_TRUNC)
    try:
        return os.open(name, flags, permissions & 0o777, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeNameError(f"refusing to write through the symlink {name!r}") from exc
        raise


def is_zero(data: bytes) -> bool:
    """All-zero blobs are left as holes: the file was created sparse at its full size."""
    return data[:1] == b"\0" and data[-1:] == b"\0" and data == bytes(len(data))


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    if written < len(data):  # (rare: a signal, or the last bytes a full disk took)
        view = memoryview(data)[written:]
        offset += written
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written


def apply_metadata(
    fd: int,
    permissions: int,
    uid: int,
    gid: int,
    times_ns: tuple[int, int],
    *,
    owner: bool,
    as_created: bool = False,
) -> None:
    """Mode, times and (when `owner`) ownership, through the open file. What the file
    already has is not set again: most files were created with their mode and owner, and
    a chown and a chmod that change nothing cost a restore of 100,000 small files 0.5 s of
    system time; a stat costs a tenth of that. `as_created`: this process created the file
    with `permissions` under a umask of 0, so it has them, unless they are more than
    read, write and execute bits (and its owner is left as created)."""
    if as_created and not owner and permissions <= 0o777:
        os.utime(fd, ns=times_ns)
        return
    now = os.fstat(fd)
    chowned = owner and (now.st_uid != uid or now.st_gid != gid)
    if chowned:
        os.fchown(fd, uid, gid)
    if chowned or stat.S_IMODE(now.st_mode) != permissions:  # (a chown drops set-id bits)
        os.fchmod(fd, permissions)
    os.utime(fd, ns=times_ns)


def write_whole_file(
    path: str,
    size: int,
    data: bytes,
    meta: PlainFileMetadata,
    *,
    owner: bool,
    umask_zero: bool = False,
) -> None:
    """Create a file whose content is `data` alone (sparse if it is all zeros), with its
    metadata. Raises OSError, UnsafeNameError, or ValueError (before creating anything) if
    a time is not one. `umask_zero`: this process's umask is 0, so a file it creates new
    has the permissions it was created with (a file already there keeps its own)."""
    permissions, uid, gid, atime, mtime = meta
    times_ns = parse_times(atime, mtime)
    created = umask_zero
    try:
        fd = create_file(path, permissions=permissions, new=umask_zero)
    except FileExistsError:
        created = False
        fd = create_file(path, permissions=permissions)
    try:
        zero = is_zero(data)
        if zero or len(data) != size:
            os.ftruncate(fd, size)
        if not zero:
            pwrite_all(fd, data, 0)
        apply_metadata(fd, permissions, uid, gid, times_ns, owner=owner, as_created=created)
    finally:
        os.close(fd)


PlainFileMetadata = tuple[int, int, int, str | None, str | None]
"""A `FileMetadata` as a plain tuple: unpickling the class for every file would cost more."""
WholeFile = tuple[str, int, PlainFileMetadata]
"""A file to write whole from one blob: path, size, metadata."""
PlainPackedBlob = tuple[BlobType, bytes, int, int, int]
"""A `PackedBlob` as a plain tuple (pickling the named tuple calls Python for each)."""
Span = tuple[int, "pickle.PickleBuffer | memoryview"]
"""Bytes of a pack, from this offset on. They go to a worker as a `SharedBytes` (where they
are in the memory it shares with its parent, see `datamover.sharedmemory`) or as a
`PickleBuffer` (beside the pickle, not copied into it, see `datamover.workerpool`), and
arrive as a view."""
WriteRequest = tuple[str, list[Span], list[tuple[PlainPackedBlob, list[WholeFile]]]]
"""Blobs of a pack (its id, the spans that hold them, sorted) sorted by offset, each with the
files it fills."""
WriteAnswer = list[list[str | None]]
"""Per blob, per file: None once written, else why not."""
WHOLE_FILE_WRITER = f"{__name__}:whole_file_writer"


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """What writing needs besides the data: sent to each worker once, through its pipe
    (the key pickles as its key material only)."""

    key: MasterKey
    owner: bool
    """Apply uid and gid (when restoring as root)."""


def write_whole_files(
    request: WriteRequest, settings: WriterSettings, *, umask_zero: bool = False
) -> WriteAnswer:
    """Verify each blob against its id, then write the files it fills (`umask_zero`: see
    `write_whole_file`)."""
    pack_hex, spans, blobs = request
    pieces = [(first, memoryview(data)) for first, data in spans]
    piece = 0
    key, owner = settings.key, settings.owner
    answer: WriteAnswer = []
    for (_, blob_id, offset, length, uncompressed_length), files in blobs:
        while piece + 1 < len(pieces) and pieces[piece + 1][0] <= offset:
            piece += 1
        start, view = pieces[piece]
        sealed = view[offset - start : offset - start + length]  # (short if the pack is)
        try:
            plain = open_blob(key, pack_hex, blob_id, length, uncompressed_length, sealed)
        except DatamoverError as exc:
            answer.append([str(exc)] * len(files))
            continue
        answer.append([_write_or_say_why(file, plain, owner, umask_zero) for file in files])
    return answer


def whole_file_writer(settings: WriterSettings) -> Callable[[WriteRequest], WriteAnswer]:
    """The worker handler (`WHOLE_FILE_WRITER`): `write_whole_files` with these settings.
    The worker process creates nothing but the files it restores, so its umask is set to
    0: a file it creates has the mode it is created with, and need not be looked at again
    (one system call less a file)."""
    os.umask(0)
    return functools.partial(write_whole_files, settings=settings, umask_zero=True)


def _write_or_say_why(file: WholeFile, data: bytes, owner: bool, umask_zero: bool) -> str | None:
    path, size, meta = file
    try:
        write_whole_file(path, size, data, meta, owner=owner, umask_zero=umask_zero)
    except (UnsafeNameError, ValueError) as exc:
        return str(exc)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
