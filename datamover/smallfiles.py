"""Small files (one blob each) read, hashed, compressed and sealed in worker processes.

Per file, a worker (see `datamover.workerpool`) sends back its status, its node's JSON and
its sealed blob; the backup's process only adds the blob to a pack
(`Repository.save_sealed_blob`).
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


SEALED, UNREADABLE, GROWN = 0, 1, 2
SmallFileResult = tuple[Any, ...]
"""What became of one small file, as a plain tuple (it crosses a pipe, and unpickling a
class instance per file would cost more than the tuple's use):

* ``(SEALED, node, size, blob_id, sealed, uncompressed_length, changed_again)``: the file's
  node as restic's JSON bytes (metadata as it was opened); its blob's id and sealed bytes (None
  for an empty file); 0 as uncompressed length when the blob is stored uncompressed; and
  whether it changed while it was read twice (kept as read the second time);
* ``(UNREADABLE, warning)``: not stored, and why;
* ``(GROWN,)``: no longer small, to be read as a large file.
"""


@dataclass(frozen=True, slots=True)
class SealSettings:
    """What sealing needs besides the data: sent to each worker once, through its pipe
    (the key pickles as its key material only)."""

    key: MasterKey
    compression_level: int
    limit: int
    """Files of at least this many bytes are not small (the chunker's minimum size)."""


def read_and_seal(path: bytes, name: str, settings: SealSettings) -> SmallFileResult:
    """Read a small file, once more if it changed meanwhile (a live volume), and seal it."""
    read = _read_once(path, settings.limit)
    if isinstance(read, _Read) and read.changed:
        read = _read_once(path, settings.limit)
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


def _read_once(path: bytes, limit: int) -> _Read | SmallFileResult:
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
        data = read_small(fd, before.st_size, limit)
        if data is None:
            return (GROWN,)
        after = os.fstat(fd)
    except OSError as exc:
        return (UNREADABLE, f"cannot read {os.fsdecode(path)}: {exc.strerror or exc}")
    finally:
        os.close(fd)
    changed = (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
    return _Read(before, data, changed or len(data) != before.st_size)


Batch = list[tuple[bytes, str, int]]
"""Small files: path (bytes, as the file system names it), node name, size when listed
(which the batching counts)."""


def seal_batch(batch: Batch, settings: SealSettings) -> list[SmallFileResult]:
    return [read_and_seal(path, name, settings) for path, name, _ in batch]


def memory_per_worker(batch_bytes: int) -> int:
    """Bytes one worker costs, at most, counting its own process: its interpreter, its
    batches in flight (each read, sealed and pickled there), and the batch whose answer is
    received and unpickled here."""
    return WORKER_BASELINE + REQUESTS_PER_WORKER * batch_bytes * 3 + 2 * batch_bytes
