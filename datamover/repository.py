"""A restic (format version 2) repository: blobs in packs, index, trees, snapshots, locks.

Writing follows restic's ordering rules: packs first, then the index files naming them,
then the snapshot. Blobs are compressed and encrypted in the caller's thread (so callers
get parallelism by calling from several threads); full packs go to a small uploader pool,
and callers block while ``max_pending_packs`` packs wait for upload, which bounds memory
to about ``(2 open packs + max_pending_packs) * pack_size``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NamedTuple

import structlog
from pydantic import BaseModel

from datamover import compression
from datamover.backend.base import Backend, FileType
from datamover.blobs import BlobType, PackedBlob, decode_blob, new_tuple
from datamover.cache import RepositoryCache
from datamover.config import REPO_VERSION, RepoConfig
from datamover.crypto import MasterKey
from datamover.earlykey import EarlyKey
from datamover.errors import (
    AmbiguousSnapshotIdError,
    BlobCorruptedError,
    BlobNotFoundError,
    DatamoverError,
    FileNotFoundInBackendError,
    PackCorruptedError,
    RepositoryExistsError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
    UnsupportedRepositoryError,
)
from datamover.ids import hash_bytes
from datamover.index import BlobLocation, MasterIndex, save_index_files
from datamover.kdf import ScryptParams
from datamover.keys import create_key, open_master_key
from datamover.locks import Lock, locked
from datamover.pack import PackBuilder, read_pack_header
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree
from datamover.treejson import tree_documents
from datamover.unpacked import decode_unpacked, load_unpacked, save_unpacked

__all__ = ["BlobType", "RepoCheckpoint", "RepoConfig", "RepoStats", "Repository"]

log = structlog.get_logger(__name__)

DEFAULT_PACK_SIZE = 16 * 2**20
INDEX_EVERY_PACKS = 64
INDEX_EVERY_BLOBS = 10_000
"""An index file is written once this many uploaded blobs are in none (or as many packs,
or after `INDEX_EVERY_S`): a backup of small files fills its packs with thousands of blobs
each, and an index of 100,000 blobs written only at its end took 0.2 s after everything
else was done."""
INDEX_EVERY_S = 300.0


class RepoCheckpoint(BaseModel):
    """What a restarted writer needs so it uploads nothing twice: packs this session
    uploaded that no index file names yet, and the index files this session wrote."""

    packs: list[str] = []
    indexes: list[str] = []


class RepoStats(BaseModel):
    """Counters since the repository was opened (for progress reports)."""

    blobs_new: int = 0
    blobs_known: int = 0
    bytes_new: int = 0
    """Plaintext bytes of new blobs."""
    bytes_stored: int = 0
    """Encrypted (and compressed) bytes of new blobs."""
    packs_uploaded: int = 0
    bytes_uploaded: int = 0
    index_files_written: int = 0


SealedBlob = tuple[bytes, "bytes | None", int, int]
"""A blob sealed elsewhere: id, sealed bytes (None if the caller saw it was known),
uncompressed length (0: stored uncompressed), plaintext length."""


class _Pending(NamedTuple):
    """A blob saved by this session, in an open or uploading pack, not yet in the index."""

    sealed: bytes
    uncompressed_length: int


class Repository:
    def __init__(
        self,
        backend: Backend,
        key: MasterKey,
        config: RepoConfig,
        *,
        pack_size: int = DEFAULT_PACK_SIZE,
        max_pending_packs: int = 4,
        upload_threads: int | None = None,
        compression_level: int = compression.DEFAULT_LEVEL,
        index_every_packs: int = INDEX_EVERY_PACKS,
        index_every_blobs: int = INDEX_EVERY_BLOBS,
        index_every_s: float = INDEX_EVERY_S,
        cache: RepositoryCache | None = None,
    ) -> None:
        if max_pending_packs < 1:
            raise ValueError("max_pending_packs must be at least 1")
        self.backend = backend
        self.key = key
        self.config = config
        self._index = MasterIndex()
        self._index_loading: Future[None] | None = None
        """The index files being read in the background (see `open`'s `index_later`)."""
        self.cache = cache
        if cache is not None:
            cache.use_repository(config.id)
        self.pack_size = pack_size
        self.max_pending_packs = max_pending_packs
        self.compression_level = compression_level
        self._index_every_packs = index_every_packs
        self._index_every_blobs = index_every_blobs
        self._index_every_s = index_every_s

        self._state = threading.Condition()
        self._pending: dict[tuple[BlobType, bytes], _Pending] = {}
        self._builders: dict[BlobType, PackBuilder] = {}
        self._inflight_packs = 0
        self._futures: set[Future[None]] = set()
        self._upload_error: BaseException | None = None
        self._unindexed: dict[bytes, list[PackedBlob]] = {}
        self._session_indexes: list[str] = []
        self._last_index_write = time.monotonic()
        self._index_write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._locks: list[Lock] = []
        self._snapshots_read: dict[str, Snapshot] = {}
        self._stats = RepoStats()
        self._uploader = ThreadPoolExecutor(
            max_workers=upload_threads or max_pending_packs, thread_name_prefix="pack-upload"
        )

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        backend: Backend,
        password: str,
        *,
        pack_size: int = DEFAULT_PACK_SIZE,
        max_pending_packs: int = 4,
        kdf_params: ScryptParams | None = None,
        upload_threads: int | None = None,
        compression_level: int = compression.DEFAULT_LEVEL,
        cache: RepositoryCache | None = None,
    ) -> Repository:
        """Create a new repository: layout, key file, config."""
        if backend.exists(FileType.CONFIG, "config"):
            raise RepositoryExistsError(f"a repository already exists at {backend.location}")
        backend.create_layout()
        key = MasterKey.random()
        key_name, key_document = create_key(backend, password, key, kdf_params)
        if cache is not None:
            cache.remember_key_file(key_name, key_document)
        config = RepoConfig.new()
        save_unpacked(backend, key, FileType.CONFIG, config.model_dump_json().encode())
        log.info("repository created", location=backend.location, id=config.id)
        return cls(
            backend,
            key,
            config,
            pack_size=pack_size,
            max_pending_packs=max_pending_packs,
            upload_threads=upload_threads,
            compression_level=compression_level,
            cache=cache,
        )

    @classmethod
    def open(
        cls,
        backend: Backend,
        password: str,
        *,
        pack_size: int = DEFAULT_PACK_SIZE,
        max_pending_packs: int = 4,
        upload_threads: int | None = None,
        compression_level: int = compression.DEFAULT_LEVEL,
        cache: RepositoryCache | None = None,
        early_key: EarlyKey | None = None,
        index_later: bool = False,
    ) -> Repository:
        """Open an existing repository and load its index.

        With a `cache`, the key file that opens is remembered and tree packs are kept
        locally; `early_key` is a derivation the caller started from that cache. With
        `index_later`, the index is read in a thread and `index` waits for it (raising
        what reading it raised): a restore takes its lock meanwhile, and the lock's second
        look for a racing writer, 0.2 s later, is due before the first file is written.
        Raises RepositoryNotFoundError, WrongPasswordError, UnsupportedRepositoryError."""
        try:  # (read, not asked for first: one round trip less for every command)
            sealed_config = backend.load(FileType.CONFIG, "config")
        except FileNotFoundInBackendError:
            raise RepositoryNotFoundError(f"no repository at {backend.location}") from None
        key = open_master_key(backend, password, cache=cache, early=early_key)
        document = decode_unpacked(key, FileType.CONFIG, "config", sealed_config)
        config = RepoConfig.model_validate_json(document)
        if config.version != REPO_VERSION:
            raise UnsupportedRepositoryError(
                f"repository {backend.location} has format version {config.version}; "
                "only version 2 is supported (`restic migrate upgrade_repo_v2` upgrades it)"
            )
        repo = cls(
            backend,
            key,
            config,
            pack_size=pack_size,
            max_pending_packs=max_pending_packs,
            upload_threads=upload_threads,
            compression_level=compression_level,
            cache=cache,
        )
        index = repo._index
        if index_later:
            reader = ThreadPoolExecutor(1, thread_name_prefix="index-load")
            repo._index_loading = reader.submit(repo._load, index)
            reader.shutdown(wait=False)
        else:
            repo._load(index)
        return repo

    def _load(self, index: MasterIndex) -> None:
        index.load(self.backend, self.key, cache=self.cache)
        if self.cache is not None:
            self.cache.keep_only_packs(index.has_pack)

    @property
    def index_pending(self) -> bool:
        """Whether the index files are still being read in the background."""
        return self._index_loading is not None and not self._index_loading.done()

    @property
    def index(self) -> MasterIndex:
        """Every blob's location (once the index files are read)."""
        loading = self._index_loading
        if loading is not None:
            loading.result()
            self._index_loading = None
        return self._index

    @index.setter
    def index(self, index: MasterIndex) -> None:
        """(After a reading in the background has finished: it fills the index it began.)"""
        if self._index_loading is not None:
            self._index_loading.exception()
            self._index_loading = None
        self._index = index

    def close(self) -> None:
        """Stop the uploader threads (call `flush` first to keep what was saved), and wait
        for an index still being read: no thread of a closed repository goes on using its
        backend (an agent opens one for each volume it restores, for its whole life)."""
        self._uploader.shutdown(wait=True)
        if self._index_loading is not None:
            self._index_loading.exception()  # (what it raised was for `index` to raise)

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- blobs ---------------------------------------------------------------------------

    def has_blob(self, blob_type: BlobType, blob_id: bytes) -> bool:
        return self.index.has(blob_type, blob_id) or (blob_type, blob_id) in self._pending

    def blob_check(self, blob_type: BlobType) -> Callable[[bytes], bool]:
        """`has_blob` for one type, as one call: an incremental backup asks for the content
        of every unchanged file."""
        indexed, pending = self.index.ids(blob_type), self._pending

        def known(blob_id: bytes) -> bool:
            return blob_id in indexed or (blob_type, blob_id) in pending

        return known

    def save_blob(
        self, blob_type: BlobType, data: bytes, blob_id: bytes | None = None
    ) -> tuple[bytes, bool]:
        """Store a blob unless it is known; returns (id, True if it was new).

        The state lock is taken once per blob. A blob is compressed and encrypted before
        that, after a lock-free look at the index and pending blobs: two threads saving
        the same new blob at the same moment may both seal it, but only the first to take
        the lock adds it to a pack; the other counts it as known."""
        if blob_id is None:
            blob_id = hash_bytes(data)
        sealed: bytes | None = None
        uncompressed_length = 0
        if not self.has_blob(blob_type, blob_id):
            packed = compression.compress_if_smaller(data, self.compression_level)
            sealed = self.key.seal(data if packed is None else packed)
            uncompressed_length = 0 if packed is None else len(data)
        blob = (blob_id, sealed, uncompressed_length, len(data))
        return blob_id, self.save_sealed_blobs(blob_type, [blob])[0]

    def save_sealed_blobs(self, blob_type: BlobType, blobs: list[SealedBlob]) -> list[bool]:
        """Store blobs sealed elsewhere (see `save_blob`) unless they are known; whether each
        was new. A blob whose sealed bytes are None was seen known by the caller, and is
        only counted. One lock for all (a batch of small files): taken once per blob, by
        the threads that take the workers' answers and by the uploads', it made saving a
        small file's blob cost 6 us instead of 4."""
        with self._state:
            return [self._save_sealed_locked(blob_type, *blob) for blob in blobs]

    def _save_sealed_locked(
        self,
        blob_type: BlobType,
        blob_id: bytes,
        sealed: bytes | None,
        uncompressed_length: int,
        length: int,
    ) -> bool:
        self._raise_upload_error()
        stats = self._stats
        if sealed is not None and not self.has_blob(blob_type, blob_id):
            if self._inflight_packs >= self.max_pending_packs:
                # Backpressure: wait until a finished pack could be queued without
                # exceeding max_pending_packs, so at most that many are ever held.
                while self._inflight_packs >= self.max_pending_packs and not self._upload_error:
                    self._state.wait()
                self._raise_upload_error()
                known = self.has_blob(blob_type, blob_id)  # (saved by another meanwhile)
            else:
                known = False
            if not known:
                self._add_to_pack_locked(blob_type, blob_id, sealed, uncompressed_length)
                stats.blobs_new += 1
                stats.bytes_new += length
                stats.bytes_stored += len(sealed)
                return True
        stats.blobs_known += 1
        return False

    def _add_to_pack_locked(
        self, blob_type: BlobType, blob_id: bytes, sealed: bytes, uncompressed_length: int
    ) -> None:
        builder = self._builders.get(blob_type)
        if builder is None:
            builder = self._builders[blob_type] = PackBuilder(blob_type)
        builder.add(blob_id, sealed, uncompressed_length)
        self._pending[(blob_type, blob_id)] = new_tuple(_Pending, (sealed, uncompressed_length))
        if builder.size >= self.pack_size:
            del self._builders[blob_type]
            self._submit_locked(builder)

    def _submit_locked(self, builder: PackBuilder) -> None:
        self._inflight_packs += 1
        future = self._uploader.submit(self._upload, builder)
        self._futures.add(future)
        future.add_done_callback(self._forget_future)

    def _forget_future(self, future: Future[None]) -> None:
        with self._state:  # re-entrant: runs inline when the future is already done
            self._futures.discard(future)

    def _upload(self, builder: PackBuilder) -> None:
        try:
            chunks = builder.finish(self.key)
            data = bytearray().join(chunks)  # (see `S3Backend.save`)
            del chunks
            pack_id = hash_bytes(data)
            self.backend.save(FileType.DATA, pack_id.hex(), data)
            if self.cache is not None and builder.blob_type is BlobType.TREE:
                self.cache.save_pack(pack_id.hex(), data)
        except BaseException as exc:
            log.error("pack upload failed", error=str(exc))
            with self._state:
                self._upload_error = self._upload_error or exc
                for blob in builder.blobs:
                    self._pending.pop((blob.type, blob.id), None)
                self._inflight_packs -= 1
                self._state.notify_all()
            raise
        with self._state:
            self.index.add_pack(pack_id, builder.blobs)
            for blob in builder.blobs:
                self._pending.pop((blob.type, blob.id), None)
            self._unindexed[pack_id] = builder.blobs
            self._inflight_packs -= 1
            self._stats.packs_uploaded += 1
            self._stats.bytes_uploaded += len(data)
            self._state.notify_all()
            due = (
                len(self._unindexed) >= self._index_every_packs
                or sum(map(len, self._unindexed.values())) >= self._index_every_blobs
                or time.monotonic() - self._last_index_write >= self._index_every_s
            )
        if due:
            self._write_index()

    def _raise_upload_error(self) -> None:
        """A failed upload poisons the session: what was saved since the last checkpoint
        may be incomplete, so the caller must start again (from its checkpoint)."""
        error = self._upload_error
        if error is None:
            return
        if isinstance(error, DatamoverError):
            raise error
        raise DatamoverError(
            f"an earlier pack upload to {self.backend.location} failed: {error}"
        ) from error

    def _write_index(self) -> None:
        """Write an index file for every uploaded pack not named in one yet."""
        with self._index_write_lock:
            with self._state:
                packs = dict(self._unindexed)
            if not packs:
                return
            names = save_index_files(self.backend, self.key, packs)
            with self._state:
                for pack_id in packs:
                    self._unindexed.pop(pack_id, None)
                self._session_indexes.extend(names)
                self.index.index_files.update(names)
                self._last_index_write = time.monotonic()
                self._stats.index_files_written += len(names)
            log.debug("index written", files=names, packs=len(packs))

    def flush(self) -> None:
        """Upload the open packs, wait for all uploads, then index everything uploaded."""
        with self._state:
            self._raise_upload_error()
            builders = list(self._builders.values())
            self._builders.clear()
            for builder in builders:
                self._submit_locked(builder)
            futures = list(self._futures)
        wait_futures(futures)
        with self._state:
            self._raise_upload_error()
        self._write_index()

    def load_blob(self, blob_type: BlobType, blob_id: bytes) -> bytes:
        """The blob's plaintext, verified against its id.

        BlobNotFoundError if no index names it; BlobCorruptedError (naming the pack) if no
        stored copy decrypts, decompresses and hashes to its id."""
        pending = self._pending.get((blob_type, blob_id))
        if pending is not None:
            fake = PackedBlob(
                blob_type, blob_id, 0, len(pending.sealed), pending.uncompressed_length
            )
            return decode_blob(self.key, "(not yet uploaded)", fake, pending.sealed)
        locations = self.index.lookup(blob_type, blob_id)
        if not locations:
            self._reload_index()
            locations = self.index.lookup(blob_type, blob_id)
        if not locations:
            raise BlobNotFoundError(f"{blob_type.value} blob {blob_id.hex()} is not in the index")
        failures: list[DatamoverError] = []
        for location in locations:
            try:
                return self.load_located_blob(location)
            except (BlobCorruptedError, FileNotFoundInBackendError) as exc:
                failures.append(exc)
        raise failures[0]

    def load_located_blob(self, location: BlobLocation) -> bytes:
        pack_hex = location.pack_id.hex()
        blob = location.blob
        if self.cache is not None and self.cache.keeps_packs and blob.type is BlobType.TREE:
            sealed, cached = self.cache.read_pack_range(
                pack_hex, blob.offset, blob.length, lambda: self._load_pack(pack_hex, blob)
            )
            try:
                return decode_blob(self.key, pack_hex, blob, sealed)
            except BlobCorruptedError:
                if not cached:
                    raise
                self.cache.discard_pack(pack_hex)  # damaged locally: ask the repository
        return decode_blob(self.key, pack_hex, blob, self._load_pack(pack_hex, blob, whole=False))

    def _load_pack(self, pack_hex: str, blob: PackedBlob, *, whole: bool = True) -> bytes:
        """The whole pack, or only `blob`'s bytes of it."""
        try:
            if whole:
                return self.backend.load(FileType.DATA, pack_hex)
            return self.backend.load(FileType.DATA, pack_hex, blob.offset, blob.length)
        except FileNotFoundInBackendError as exc:
            raise BlobCorruptedError(blob.id.hex(), pack_hex, "the pack file is missing") from exc

    def _reload_index(self) -> None:
        """Pick up index files written since open (another writer's snapshot may need them)."""
        with self._reload_lock:
            self.index.load(self.backend, self.key, cache=self.cache)

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint(self) -> RepoCheckpoint:
        with self._state:
            return RepoCheckpoint(
                packs=[pack_id.hex() for pack_id in self._unindexed],
                indexes=list(self._session_indexes),
            )

    def resume(self, checkpoint: RepoCheckpoint) -> None:
        """Adopt what an interrupted session stored: its packs (read from their headers)
        join the index and are written into the next index file."""
        for pack_hex in checkpoint.packs:
            pack_id = bytes.fromhex(pack_hex)
            if self.index.has_pack(pack_id):
                continue
            try:
                blobs = read_pack_header(self.backend, self.key, pack_hex)
            except FileNotFoundInBackendError:
                log.warning(
                    "checkpointed pack is gone; its blobs will be uploaded again", pack=pack_hex
                )
                continue
            except PackCorruptedError as exc:
                log.warning(
                    "checkpointed pack is unreadable; ignoring it", pack=pack_hex, error=str(exc)
                )
                continue
            with self._state:
                self.index.add_pack(pack_id, blobs)
                self._unindexed[pack_id] = blobs
        with self._state:
            for name in checkpoint.indexes:
                if name in self.index.index_files and name not in self._session_indexes:
                    self._session_indexes.append(name)

    # -- trees and snapshots -------------------------------------------------------------

    def save_tree(self, tree: Tree) -> bytes:
        return self.save_blob(BlobType.TREE, tree.to_json())[0]

    def load_tree(self, tree_id: bytes) -> Tree:
        documents = self.load_tree_documents(tree_id)
        try:
            return Tree(nodes=[Node.from_json_dict(doc) for doc in documents])
        except ValueError as exc:
            raise BlobCorruptedError(tree_id.hex(), "?", f"not a valid tree: {exc}") from exc

    def load_tree_documents(self, tree_id: bytes) -> list[dict[str, Any]]:
        """A tree's nodes as their JSON objects (see `datamover.parent`)."""
        return self.load_tree_blob(tree_id)[1]

    def load_tree_blob(self, tree_id: bytes) -> tuple[bytes, list[dict[str, Any]]]:
        """A tree's JSON as stored, and its nodes as JSON objects."""
        data = self.load_blob(BlobType.TREE, tree_id)
        try:
            return data, tree_documents(data)
        except ValueError as exc:
            raise BlobCorruptedError(tree_id.hex(), "?", f"not a valid tree: {exc}") from exc

    def save_snapshot(self, snapshot: Snapshot) -> str:
        """Flush, then store the snapshot (so it only ever names indexed data), under
        confirmed locks only."""
        self.flush()
        self.confirm_locks()
        if not self.index.has(BlobType.TREE, snapshot.tree):
            raise BlobNotFoundError(f"snapshot tree {snapshot.tree.hex()} is not in the index")
        return save_unpacked(self.backend, self.key, FileType.SNAPSHOTS, snapshot.to_json())

    def load_snapshot(self, snapshot_id: str) -> tuple[str, Snapshot]:
        """A snapshot by full id, unique prefix, or ``latest`` (the newest)."""
        if snapshot_id == "latest":
            snapshots = self.list_snapshots()
            if not snapshots:
                raise SnapshotNotFoundError(f"no snapshots in {self.backend.location}")
            return snapshots[-1]
        if snapshot_id in self._snapshots_read:  # a full id this instance has read
            return snapshot_id, self._snapshots_read[snapshot_id]
        matches = [
            info.name
            for info in self.backend.list(FileType.SNAPSHOTS)
            if info.name.startswith(snapshot_id)
        ]
        if not matches:
            raise SnapshotNotFoundError(f"no snapshot matches {snapshot_id!r}")
        if len(matches) > 1:
            raise AmbiguousSnapshotIdError(f"{snapshot_id!r} matches {len(matches)} snapshots")
        return matches[0], self._read_snapshot(matches[0])

    def _read_snapshot(self, name: str) -> Snapshot:
        """A snapshot file, read once per instance: its name is the hash of its content, so
        it never changes (a backup looks its parent up by id right after listing them)."""
        snapshot = self._snapshots_read.get(name)
        if snapshot is None:
            document = load_unpacked(self.backend, self.key, FileType.SNAPSHOTS, name, self.cache)
            snapshot = self._snapshots_read[name] = Snapshot.from_json(document)
        return snapshot

    def list_snapshots(self) -> list[tuple[str, Snapshot]]:
        """All snapshots, oldest first."""
        names = [info.name for info in self.backend.list(FileType.SNAPSHOTS)]
        if self.cache is not None:
            self.cache.keep_only_files(FileType.SNAPSHOTS.value, set(names))
        with ThreadPoolExecutor(max_workers=8) as pool:
            snapshots = list(zip(names, pool.map(self._read_snapshot, names), strict=True))
        return sorted(snapshots, key=lambda item: item[1].time.unix_ns)

    def iter_snapshot_ids(self) -> Iterator[str]:
        for info in self.backend.list(FileType.SNAPSHOTS):
            yield info.name

    def remove_snapshot(self, snapshot_id: str) -> None:
        self.backend.remove(FileType.SNAPSHOTS, snapshot_id)
        self._snapshots_read.pop(snapshot_id, None)

    # -- locks and stats -----------------------------------------------------------------

    def lock(self, *, exclusive: bool, check_later: bool = False) -> AbstractContextManager[Lock]:
        """A restic lock for the duration of a `with` block (RepositoryLockedError if taken).

        With `check_later`, the look for a racing lock finishes in the background (see
        `locks.acquire`); `save_snapshot` and `confirm_locks` wait for it."""
        return self._tracked(
            locked(self.backend, self.key, exclusive=exclusive, check_later=check_later)
        )

    @contextmanager
    def _tracked(self, lock_context: AbstractContextManager[Lock]) -> Iterator[Lock]:
        with lock_context as lock:
            self._locks.append(lock)
            try:
                yield lock
            finally:
                self._locks.remove(lock)

    def confirm_locks(self) -> None:
        """RepositoryLockedError if a lock this repository holds turned out to conflict."""
        for lock in list(self._locks):
            lock.confirm()

    @property
    def pending_packs(self) -> int:
        """Finished packs queued or uploading (never more than ``max_pending_packs``)."""
        return self._inflight_packs

    @property
    def stats(self) -> RepoStats:
        with self._state:
            return self._stats.model_copy()
