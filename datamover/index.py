"""The index: which pack holds each blob. Index files in the repository, and the
in-memory master index built from all of them plus this session's uploads."""

from __future__ import annotations

import threading
from array import array
from collections.abc import Container, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from datamover.backend.base import Backend, FileType
from datamover.blobs import BlobType, PackedBlob, new_tuple
from datamover.crypto import MasterKey
from datamover.errors import InvalidRepositoryDataError
from datamover.jsonfmt import dumps, loads
from datamover.prefetch import Prefetch
from datamover.unpacked import load_unpacked, save_unpacked

if TYPE_CHECKING:
    from datamover.cache import RepositoryCache

MAX_BLOBS_PER_INDEX_FILE = 50_000
"""Keeps each index file well below restic's 8 MiB guideline."""


_TYPES = list(BlobType)
"""Blob types by their code in `MasterIndex`'s records."""
_CODES = {blob_type: code for code, blob_type in enumerate(_TYPES)}
_CODES_BY_NAME = {blob_type.value: code for code, blob_type in enumerate(_TYPES)}
_BYTES_PER_RECORD = 200
"""Memory of one `MasterIndex` record: ~193 bytes measured (tracemalloc) on 100,000 blobs
(the dict entry, the id, the record number, the arrays' fields)."""


class BlobLocation(NamedTuple):
    pack_id: bytes
    blob: PackedBlob


def encode_index(packs: dict[bytes, list[PackedBlob]], supersedes: Iterable[str] = ()) -> bytes:
    doc: dict[str, Any] = {}
    superseded = sorted(supersedes)
    if superseded:
        doc["supersedes"] = superseded
    # (Fields unpacked from each tuple: half the time of reading them by name.)
    doc["packs"] = [
        {
            "id": pack_id.hex(),
            "blobs": [
                {
                    "id": blob_id.hex(),
                    "type": blob_type.value,
                    "offset": offset,
                    "length": length,
                    "uncompressed_length": uncompressed_length,
                }
                if uncompressed_length
                else {
                    "id": blob_id.hex(),
                    "type": blob_type.value,
                    "offset": offset,
                    "length": length,
                }
                for blob_type, blob_id, offset, length, uncompressed_length in blobs
            ],
        }
        for pack_id, blobs in packs.items()
    ]
    return dumps(doc)


class _PackEntries(NamedTuple):
    """One pack of an index file, checked, as columns (a tuple per blob would cost more
    than the rest of loading it)."""

    pack_id: bytes
    ids: list[bytes]
    types: bytes
    """Each blob's type, by its code (see `_TYPES`)."""
    offsets: array[int]
    lengths: array[int]
    uncompressed: array[int]

    @classmethod
    def of(cls, pack_id: bytes, blobs: Iterable[PackedBlob]) -> _PackEntries:
        blobs = list(blobs)
        return cls(
            pack_id,
            [blob.id for blob in blobs],
            bytes([_CODES[blob.type] for blob in blobs]),
            array("Q", [blob.offset for blob in blobs]),
            array("Q", [blob.length for blob in blobs]),
            array("Q", [blob.uncompressed_length for blob in blobs]),
        )

    def blobs(self) -> list[PackedBlob]:
        return [
            PackedBlob(_TYPES[code], blob_id, offset, length, uncompressed)
            for code, blob_id, offset, length, uncompressed in zip(
                self.types, self.ids, self.offsets, self.lengths, self.uncompressed, strict=True
            )
        ]


def _index_entries(document: Any) -> tuple[list[_PackEntries], list[str]]:
    """The packs of a parsed index file, and the index files it supersedes; ValueError,
    KeyError, TypeError, AttributeError or OverflowError if it is not one."""
    if isinstance(document, list):  # restic's legacy format: an array of packs
        document = {"packs": document}
    fromhex, codes = bytes.fromhex, _CODES_BY_NAME
    entries = []
    for pack in document.get("packs") or []:
        blobs = pack.get("blobs") or []
        entries.append(
            _PackEntries(
                fromhex(pack["id"]),
                [fromhex(blob["id"]) for blob in blobs],
                bytes([codes[blob["type"]] for blob in blobs]),
                array("Q", [blob["offset"] for blob in blobs]),
                array("Q", [blob["length"] for blob in blobs]),
                array("Q", [blob.get("uncompressed_length") or 0 for blob in blobs]),
            )
        )
    return entries, list(document.get("supersedes") or [])


def save_index_files(
    backend: Backend,
    key: MasterKey,
    packs: dict[bytes, list[PackedBlob]],
    supersedes: Iterable[str] = (),
) -> list[str]:
    """Write `packs` as one or more index files; returns their ids."""
    names: list[str] = []
    batch: dict[bytes, list[PackedBlob]] = {}
    count = 0
    superseded = list(supersedes)
    for pack_id, blobs in packs.items():
        if batch and count + len(blobs) > MAX_BLOBS_PER_INDEX_FILE:
            names.append(
                save_unpacked(backend, key, FileType.INDEX, encode_index(batch, superseded))
            )
            batch, count, superseded = {}, 0, []
        batch[pack_id] = blobs
        count += len(blobs)
    if batch or superseded:
        names.append(save_unpacked(backend, key, FileType.INDEX, encode_index(batch, superseded)))
    return names


class MasterIndex:
    """All known blob locations. Thread-safe; a blob stored in several packs keeps every
    location so a reader can fall back when one copy is damaged.

    Every command loads the whole index, so it is kept compact: one record per blob and
    pack in parallel arrays, and per blob type a dict from blob id to its first record.
    The tuples callers get (`BlobLocation`, `PackedBlob`) are made when asked for. Two
    named tuples per blob took ~350 bytes a blob (3.5 GB for a repository of ten million
    blobs) and ~6 us a blob to load; records take ~190 bytes and ~2.6 us (measured on an
    index of 100,000 blobs, download and decryption included).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: list[dict[bytes, int]] = [{} for _ in _TYPES]
        """Per blob type (by its code), each blob id's first record."""
        self._extra: dict[tuple[int, bytes], list[int]] = {}
        """Further records of a blob stored in more than one pack."""
        # The records, by number: written before a table names them, so a reader that
        # finds a record in a table (without the lock) finds it complete.
        self._ids: list[bytes] = []
        self._types = bytearray()
        self._pack_of = array("Q")
        self._offsets = array("Q")
        self._lengths = array("Q")
        self._uncompressed = array("Q")
        self._pack_ids: list[bytes] = []
        self._pack_numbers: dict[bytes, int] = {}
        self._pack_records: list[list[range]] = []
        """Per pack (by number), the ranges of its records."""
        self.index_files: set[str] = set()
        self.superseded: set[str] = set()

    def add_pack(self, pack_id: bytes, blobs: list[PackedBlob]) -> None:
        self._add_entries(_PackEntries.of(pack_id, blobs))

    def _add_entries(self, pack: _PackEntries) -> None:
        with self._lock:
            number = self._pack_numbers.get(pack.pack_id)
            if number is None:
                self._append_records(self._new_pack(pack.pack_id), pack)
                return
            # Listed again (by a repack, or a flush retried): only what is new is added.
            known = {self._blob(record) for record in self._records_of(number)}
            new = [blob for blob in pack.blobs() if blob not in known]
            self._append_records(number, _PackEntries.of(pack.pack_id, new))

    def _append_records(self, number: int, pack: _PackEntries) -> None:
        """(Under the lock.) All the records first, then the tables that name them."""
        start = len(self._ids)
        end = start + len(pack.ids)
        self._pack_of.extend(array("Q", [number]) * len(pack.ids))
        self._offsets.extend(pack.offsets)
        self._lengths.extend(pack.lengths)
        self._uncompressed.extend(pack.uncompressed)
        self._types.extend(pack.types)
        self._ids.extend(pack.ids)
        tables, extra = self._tables, self._extra
        for record, blob_id, code in zip(range(start, end), pack.ids, pack.types, strict=True):
            table = tables[code]
            if blob_id in table:
                extra.setdefault((code, blob_id), []).append(record)
            else:
                table[blob_id] = record
        self._pack_records[number].append(range(start, end))

    def _new_pack(self, pack_id: bytes) -> int:
        number = len(self._pack_ids)
        self._pack_ids.append(pack_id)
        self._pack_records.append([])
        self._pack_numbers[pack_id] = number
        return number

    def _records_of(self, pack: int) -> Iterator[int]:
        for records in self._pack_records[pack]:
            yield from records

    def _blob(self, record: int) -> PackedBlob:
        fields = (
            _TYPES[self._types[record]],
            self._ids[record],
            self._offsets[record],
            self._lengths[record],
            self._uncompressed[record],
        )
        return new_tuple(PackedBlob, fields)

    def _location(self, record: int) -> BlobLocation:
        return new_tuple(BlobLocation, (self._pack_ids[self._pack_of[record]], self._blob(record)))

    def has(self, blob_type: BlobType, blob_id: bytes) -> bool:
        return blob_id in self._tables[_CODES[blob_type]]

    def ids(self, blob_type: BlobType) -> Container[bytes]:
        """The ids of this type, live (it grows as packs are added): ``blob_id in ...`` is
        `has` without two calls, for a caller asking once per file."""
        return self._tables[_CODES[blob_type]].keys()

    def has_pack(self, pack_id: bytes) -> bool:
        return pack_id in self._pack_numbers

    def locate(self, blob_type: BlobType, blob_id: bytes) -> BlobLocation | None:
        """One location of the blob (the first indexed), for a reader that needs one."""
        record = self._tables[_CODES[blob_type]].get(blob_id)
        return None if record is None else self._location(record)

    def lookup(self, blob_type: BlobType, blob_id: bytes) -> list[BlobLocation]:
        code = _CODES[blob_type]
        first = self._tables[code].get(blob_id)
        if first is None:
            return []
        return [self._location(r) for r in (first, *self._extra.get((code, blob_id), ()))]

    def packs(self) -> dict[bytes, list[PackedBlob]]:
        with self._lock:
            return {
                pack_id: [self._blob(record) for record in self._records_of(number)]
                for number, pack_id in enumerate(self._pack_ids)
            }

    def pack_ids(self) -> set[bytes]:
        with self._lock:
            return set(self._pack_numbers)

    def blob_count(self, blob_type: BlobType) -> int:
        return len(self._tables[_CODES[blob_type]])

    def memory(self) -> int:
        """Bytes the index holds, estimated from its records, for the memory plan."""
        return len(self._ids) * _BYTES_PER_RECORD

    def __iter__(self) -> Iterator[BlobLocation]:
        with self._lock:
            firsts = [list(table.values()) for table in self._tables]
        for records in firsts:
            for record in records:
                yield self._location(record)

    def load(
        self,
        backend: Backend,
        key: MasterKey,
        workers: int = 8,
        cache: RepositoryCache | None = None,
    ) -> None:
        """Read every index file not loaded yet (from the local `cache` when it has them):
        downloaded a few at once (each is one request) and a few ahead, parsed one at a
        time (a parsed file of 50,000 blobs is ~40 MB of objects until its entries are
        added)."""
        listed = [info.name for info in backend.list(FileType.INDEX)]
        names = [name for name in listed if name not in self.index_files]
        if cache is not None:
            cache.keep_only_files(FileType.INDEX.value, set(listed))

        def read(name: str) -> bytes:
            return load_unpacked(backend, key, FileType.INDEX, name, cache)

        with ThreadPoolExecutor(max_workers=workers) as pool:
            documents = Prefetch(pool, read, names, window=workers)
            for name in names:
                try:
                    entries, superseded = _index_entries(loads(documents.get(name)))
                except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
                    raise InvalidRepositoryDataError(f"index {name} is invalid: {exc!r}") from exc
                for pack in entries:
                    self._add_entries(pack)
                self.index_files.add(name)
                self.superseded.update(superseded)
