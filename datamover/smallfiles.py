"""Small files (one blob each) read, hashed, compressed and sealed in worker processes.

Per file, a worker (see `datamover.workerpool`) sends back its status, its node's JSON and
its sealed blob; the backup's process only adds the blob to a pack
(`Repository.save_sealed_blobs`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Any, NamedTuple

from datamover import compression
from datamover.crypto import MasterKey
from datamover.ids import hash_bytes
from datamover.scanner import file_node_document, open_for_reading
from datamover.workerpool import REQUESTS_PER_WORKER, WORKER_BASELINE


def read_small(fd: int, expected: int, limit: int) -> bytes | None:
    """The content of an open file expected to be smaller than `limit`; None if it is not
    (it grew since the stat). Asks for one byte more than expected, to see the end in one
    read: reading the whole limit would allocate (and fault in) a large buffer each time.
    `expected` is the size `fstat` gave for this open file: a short read that ends there
    is its end, without a read more to see it (growth after the `fstat` is the caller's to
    see, by a second `fstat`)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        wanted = min(limit - size, max(expected + 1 - size, 64 * 1024))
        piece = os.read(fd, wanted)
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
        if size == expected and len(piece) < wanted:
            break
    if size >= limit:
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


SEALED, UNREADABLE, HANDED_BACK = 0, 1, 2
SmallFileResult = tuple[Any, ...]
"""What became of one file of a batch, as a plain tuple (it crosses a pipe, and unpickling a
class instance per file would cost more than the tuple's use):

* ``(SEALED, node, size, blob_id, sealed, uncompressed_length, changed_again)``: the file's
  node as restic's JSON bytes (metadata as it was opened); its blob's id and sealed bytes (None
  for an empty file); 0 as uncompressed length when the blob is stored uncompressed; and
  whether it changed while it was read twice (kept as read the second time);
* ``(UNREADABLE, warning)``: not stored, and why;
* ``(HANDED_BACK, st)``: not read here, with its `fstat`: not small (any longer), hard-linked
  (read once for all its names, by the backup's process), or past the batch's bytes.
"""


@dataclass(frozen=True, slots=True)
class SealSettings:
    """What sealing needs besides the data: sent to each worker once, through its pipe
    (the key pickles as its key material only)."""

    key: MasterKey
    compression_level: int
    limit: int
    """Files of at least this many bytes are not small (the chunker's minimum size)."""
    batch_bytes: int
    """Bytes a batch may read. A batch's files are named, not sized: the walk leaves their
    `lstat` to the worker, which opens each file anyway."""


def read_and_seal(
    path: bytes, name: str, settings: SealSettings, room: int | None = None
) -> SmallFileResult:
    """Read a small file, once more if it changed meanwhile (a live volume), and seal it;
    hand it back unread if it is not small, is hard-linked, or has more than `room` bytes."""
    read = _read_once(path, settings.limit, room)
    if isinstance(read, _Read) and read.changed:
        read = _read_once(path, settings.limit, None)
    if not isinstance(read, _Read):
        return read
    st, data, changed = read
    if not data:
        return (SEALED, file_node_document(name, st, 0, []), 0, None, None, 0, changed)
    blob_id = hash_bytes(data)
    packed = compression.compress_if_smaller(data, settings.compression_level)
    sealed = settings.key.seal(data if packed is None else packed)
    node = file_node_document(name, st, len(data), [blob_id])
    length = 0 if packed is None else len(data)
    return (SEALED, node, len(data), blob_id, sealed, length, changed)


class _Read(NamedTuple):
    st: os.stat_result
    data: bytes
    changed: bool


def _read_once(path: bytes, limit: int, room: int | None) -> _Read | SmallFileResult:
    try:
        fd = open_for_reading(path)
    except FileNotFoundError:
        return (UNREADABLE, f"{os.fsdecode(path)} vanished before it was read")
    except OSError as exc:
        return (UNREADABLE, f"cannot read {os.fsdecode(path)}: {exc.strerror or exc}")
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            return (UNREADABLE, f"skipped {os.fsdecode(path)}: no longer a regular file")
        size = before.st_size
        if size >= limit or before.st_nlink > 1 or (room is not None and size > room):
            return (HANDED_BACK, before)
        data = read_small(fd, size, limit)
        if data is None:  # it grew past small since the fstat
            return (HANDED_BACK, before)
        after = os.fstat(fd)
    except OSError as exc:
        return (UNREADABLE, f"cannot read {os.fsdecode(path)}: {exc.strerror or exc}")
    finally:
        os.close(fd)
    changed = (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
    return _Read(before, data, changed or len(data) != before.st_size)


Batch = list[tuple[bytes, str]]
"""Regular files: path (bytes, as the file system names it) and node name."""


def seal_batch(batch: Batch, settings: SealSettings) -> list[SmallFileResult]:
    """Seal a batch's small files while their bytes fit in `settings.batch_bytes` (the
    first always does); the others are handed back with their `fstat`."""
    results: list[SmallFileResult] = []
    taken = 0
    for path, name in batch:
        room = max(settings.batch_bytes - taken, 0) if taken else None
        result = read_and_seal(path, name, settings, room)
        if result[0] == SEALED:
            taken += result[2]
        results.append(result)
    return results


def memory_per_worker(batch_bytes: int) -> int:
    """Bytes one worker costs, at most, counting its own process: its interpreter, its
    batches in flight (each read, sealed and pickled there), and the batch whose answer is
    received and unpickled here."""
    return WORKER_BASELINE + REQUESTS_PER_WORKER * batch_bytes * 3 + 2 * batch_bytes
