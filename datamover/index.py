"""The index: which pack holds each blob. Index files in the repository, and the
in-memory master index built from all of them plus this session's uploads."""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from datamover.backend.base import Backend, FileType
from datamover.blobs import BlobType, PackedBlob
from datamover.crypto import MasterKey
from datamover.errors import InvalidRepositoryDataError
from datamover.jsonfmt import dumps, loads
from datamover.unpacked import load_unpacked, save_unpacked

MAX_BLOBS_PER_INDEX_FILE = 50_000
"""Keeps each index file well below restic's 8 MiB guideline."""


_BLOB_TYPES = {blob_type.value: blob_type for blob_type in BlobType}


class BlobLocation(NamedTuple):
    pack_id: bytes
    blob: PackedBlob


def encode_index(packs: dict[bytes, list[PackedBlob]], supersedes: Iterable[str] = ()) -> bytes:
    doc: dict[str, Any] = {}
    superseded = sorted(supersedes)
    if superseded:
        doc["supersedes"] = superseded
    doc["packs"] = [
        {
            "id": pack_id.hex(),
            "blobs": [
                {
                    "id": b.id.hex(),
                    "type": b.type.value,
                    "offset": b.offset,
                    "length": b.length,
                    **({"uncompressed_length": b.uncompressed_length} if b.compressed else {}),
                }
                for b in blobs
            ],
        }
        for pack_id, blobs in packs.items()
    ]
    return dumps(doc)


def decode_index(document: bytes) -> tuple[dict[bytes, list[PackedBlob]], list[str]]:
    """Packs and superseded index ids of an index file (current or legacy array format)."""
    doc = loads(document)
    if isinstance(doc, list):  # restic's legacy format: an array of packs
        doc = {"packs": doc}
    packs: dict[bytes, list[PackedBlob]] = {}
    # Every command reads the whole index (a repository of 100,000 files names as many
    # blobs): a list comprehension with local names, and a dict for the type (which
    # raises KeyError on an unknown type, as BlobType() raises ValueError).
    fromhex, blob_types, packed_blob = bytes.fromhex, _BLOB_TYPES, PackedBlob
    for pack in doc.get("packs") or []:
        packs.setdefault(fromhex(pack["id"]), []).extend(
            [
                packed_blob(
                    blob_types[b["type"]],
                    fromhex(b["id"]),
                    int(b["offset"]),
                    int(b["length"]),
                    int(b.get("uncompressed_length") or 0),
                )
                for b in pack.get("blobs") or []
            ]
        )
    return packs, list(doc.get("supersedes") or [])


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
    location so a reader can fall back when one copy is damaged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[BlobType, dict[bytes, BlobLocation]] = {t: {} for t in BlobType}
        self._extra: dict[tuple[BlobType, bytes], list[BlobLocation]] = {}
        self._packs: dict[bytes, list[PackedBlob]] = {}
        self.index_files: set[str] = set()
        self.superseded: set[str] = set()

    def add_pack(self, pack_id: bytes, blobs: list[PackedBlob]) -> None:
        with self._lock:
            if pack_id in self._packs:
                known = set(self._packs[pack_id])
                blobs = [b for b in blobs if b not in known]
                self._packs[pack_id].extend(blobs)
            else:
                self._packs[pack_id] = list(blobs)
            for blob in blobs:
                location = BlobLocation(pack_id, blob)
                table = self._blobs[blob.type]
                if blob.id in table:
                    self._extra.setdefault((blob.type, blob.id), []).append(location)
                else:
                    table[blob.id] = location

    def has(self, blob_type: BlobType, blob_id: bytes) -> bool:
        return blob_id in self._blobs[blob_type]

    def ids(self, blob_type: BlobType) -> Container[bytes]:
        """The ids of this type, live (it grows as packs are added): ``blob_id in ...`` is
        `has` without two calls, for a caller asking once per file."""
        return self._blobs[blob_type].keys()

    def has_pack(self, pack_id: bytes) -> bool:
        return pack_id in self._packs

    def locate(self, blob_type: BlobType, blob_id: bytes) -> BlobLocation | None:
        """One location of the blob (the first indexed), for a reader that needs one."""
        return self._blobs[blob_type].get(blob_id)

    def lookup(self, blob_type: BlobType, blob_id: bytes) -> list[BlobLocation]:
        first = self._blobs[blob_type].get(blob_id)
        if first is None:
            return []
        return [first, *self._extra.get((blob_type, blob_id), [])]

    def packs(self) -> dict[bytes, list[PackedBlob]]:
        with self._lock:
            return {pack_id: list(blobs) for pack_id, blobs in self._packs.items()}

    def pack_ids(self) -> set[bytes]:
        with self._lock:
            return set(self._packs)

    def blob_count(self, blob_type: BlobType) -> int:
        return len(self._blobs[blob_type])

    def __iter__(self) -> Iterator[BlobLocation]:
        with self._lock:
            tables = [list(table.values()) for table in self._blobs.values()]
        for table in tables:
            yield from table

    def load(self, backend: Backend, key: MasterKey, workers: int = 8) -> None:
        """Read every index file not loaded yet (in parallel: each is one request)."""
        names = [info.name for info in backend.list(FileType.INDEX)]
        names = [name for name in names if name not in self.index_files]

        def read(name: str) -> tuple[str, dict[bytes, list[PackedBlob]], list[str]]:
            try:
                packs, superseded = decode_index(load_unpacked(backend, key, FileType.INDEX, name))
            except (ValueError, KeyError) as exc:
                raise InvalidRepositoryDataError(f"index {name} is invalid: {exc}") from exc
            return name, packs, superseded

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, packs, superseded in pool.map(read, names):
                for pack_id, blobs in packs.items():
                    self.add_pack(pack_id, blobs)
                self.index_files.add(name)
                self.superseded.update(superseded)
