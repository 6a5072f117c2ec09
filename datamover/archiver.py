"""Backup of a directory tree into a repository: the tree walk, file reading and chunk storing.

The work is shared by threads and, for small files, worker processes:

* the caller's thread walks the tree depth-first, takes unchanged files from the parent
  snapshot without reading them, and hands the others on in batches (so that this one
  thread does not become the bottleneck). In a directory without a parent tree, regular
  files go into the batches unsized, without an `lstat` each: the worker that reads a
  file `fstat`s it anyway, and hands back to the walk the files it does not read (large,
  hard-linked, or past the batch's bytes). Large directories of an incremental backup are
  compared with their parent tree by the worker processes (`datamover.dirscan`), a few
  directories ahead of the walk, which then only takes what they found unchanged;
* files smaller than a chunk (one blob each) go to worker processes
  (`datamover.smallfiles`), which read, hash, compress and seal them and write their
  nodes' JSON; this process only adds the sealed blobs to packs. Per-file Python work is
  what bounds a backup of many small files, and threads cannot spread it over the cores;
* `files` file threads read and chunk one larger file each, and hand every chunk to the
  chunk pool without waiting for it, so one large file still keeps every core busy;
* chunk threads hash, compress, encrypt and add chunks to packs (`Repository.save_blob`);
  the repository uploads full packs from its own pool, which overlaps with reading.

A directory's tree is saved by whichever thread completes its last child, so finished
directories are written and forgotten while the walk goes on; when every entry kept its
parent node, the parent's tree is reused as it is. Bytes in flight are bounded by the
memory budget (read buffers and chunks between read and pack), which also counts the
worker processes.
"""

from __future__ import annotations

import fnmatch
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import structlog

from datamover.backend.base import FileType
from datamover.backupworker import HANDLER, SCAN, SEAL
from datamover.budget import (
    MemoryPlan,
    limit_allocator_arenas,
    long_lived_objects_left_alone,
    plan_memory,
    plan_with_workers,
)
from datamover.chunker import Chunker
from datamover.counters import ThreadCounters
from datamover.dirscan import ENTRY, KEPT, UNLISTABLE, ScanResult
from datamover.ids import hash_bytes
from datamover.jobs import (
    BackupCheckpoint,
    BackupOptions,
    BackupProgress,
    BackupProgressCallback,
    BackupResult,
    FinishedWork,
)
from datamover.modes import NodeType
from datamover.parent import ParentTree, stored_content, unchanged_file
from datamover.prefetch import Prefetch
from datamover.repository import BlobType, RepoCheckpoint, Repository, SealedBlob
from datamover.scanner import (
    Entry,
    Listed,
    count_tree,
    file_node,
    list_dir,
    list_dir_files_unstated,
    matches,
    node_fields,
    open_for_reading,
)
from datamover.smallfiles import (
    HANDED_BACK,
    SEALED,
    UNREADABLE,
    SealSettings,
    SmallFileResult,
    memory_per_worker,
    read_small,
    seal_batch,
)
from datamover.snapshots import Snapshot
from datamover.tree import Node, encode_tree
from datamover.treejson import EncodedFile
from datamover.workerpool import WORTH_A_POOL, WorkerPool

log = structlog.get_logger(__name__)

_ORPHAN_CLOCK_MARGIN_S = 30.0
_COUNTED = ("files", "files_unmodified", "dirs", "bytes_read", "bytes_new", "bytes_total")
_SMALL_BATCH_FILES = 128
_SMALL_BATCH_BYTES = 4 * 1024 * 1024
"""Small files go to a worker process in batches of at most this many files or bytes."""
_SCAN_AT_LEAST = 256
"""Entries of a parent tree from which the worker processes compare its directory."""
_RESUME_MAX_DIRS = 5000
_RESUME_MAX_BLOBS = 2048
"""Bounds of a checkpoint's finished work (~150 KiB of JSON): a resumed run re-reads the
rest, it never uploads anything twice."""


class BackupAborted(Exception):
    """The backup stopped because of an earlier failure in another thread."""


class _Stats:
    """What a run reports: counters (see `ThreadCounters`) and the warnings."""

    def __init__(self) -> None:
        self.counters = ThreadCounters(*_COUNTED)
        self.current_file: str | None = None
        self.files_total: int | None = None
        self.bytes_total: int | None = None
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def add(self, name: str, value: int = 1) -> None:
        self.counters.add(name, value)

    def warn(self, message: str) -> None:
        log.warning("backup.warning", message=message)
        with self._lock:
            self.warnings.append(message)


@dataclass(frozen=True, slots=True)
class _FileRead:
    st: os.stat_result
    """The file's status when it was opened: the node's metadata."""
    content: list[bytes]
    size: int
    """Bytes actually read, which is the node's size (restic checks it against the content)."""
    changed: bool


class _SmallBatch:
    """Small files bound for one worker request: at most `_SMALL_BATCH_FILES`, and
    `_SMALL_BATCH_BYTES` as far as their sizes are known (the worker keeps to the bytes
    of files it is sent unsized)."""

    __slots__ = ("files", "size")

    def __init__(self) -> None:
        self.files: list[tuple[Entry | Listed, int]] = []
        self.size = 0

    def add(self, entry: Entry | Listed, slot: int, size: int = 0) -> bool:
        """Add a file (and its size, if known); whether the batch is now full."""
        self.files.append((entry, slot))
        self.size += size
        return len(self.files) >= _SMALL_BATCH_FILES or self.size >= _SMALL_BATCH_BYTES


class _PreparedDir(NamedTuple):
    """A subdirectory's tree in the parent snapshot, and a worker's comparison with it."""

    tree: ParentTree
    scanned: Future[ScanResult] | None


class _DirJob:
    """A directory whose children are being archived; saved when the last one completes."""

    def __init__(
        self,
        archiver: Archiver,
        entry: Entry,
        parent: _DirJob | None,
        slot: int,
        *,
        rel: str = "",
        old_node: Node | None = None,
        old_tree: ParentTree | None = None,
    ) -> None:
        self._archiver = archiver
        self._entry = entry
        self._parent = parent
        self._slot = slot
        self.rel = rel
        self.finished_children: list[str] = []
        self._old_node = old_node
        self._old_tree = old_tree
        self._nodes: list[Node | EncodedFile | None] = []
        self._pending = 0
        self._sealed = False
        self._lock = threading.Lock()
        archiver.dir_started(self)

    @property
    def parent(self) -> _DirJob | None:
        return self._parent

    def finished_files(self) -> list[Node | EncodedFile]:
        """The files of this directory read so far (for a checkpoint)."""
        with self._lock:
            return [n for n in self._nodes if n is not None and n.type is NodeType.FILE]

    def add_done(self, node: Node | EncodedFile) -> None:
        """A child that is complete already (one lock instead of two)."""
        with self._lock:
            self._nodes.append(node)

    def add_slot(self) -> int:
        with self._lock:
            self._nodes.append(None)
            self._pending += 1
            return len(self._nodes) - 1

    def complete(self, slot: int, node: Node | EncodedFile | None) -> None:
        with self._lock:
            self._nodes[slot] = node
            self._pending -= 1
            ready = self._sealed and self._pending == 0
        if ready:
            self._finish()

    def seal(self) -> None:
        """No more children will be added."""
        with self._lock:
            self._sealed = True
            ready = self._pending == 0
        if ready:
            self._finish()

    def _finish(self) -> None:
        archiver = self._archiver
        node: Node | None = None
        tree_id = b""
        try:
            nodes = [n for n in self._nodes if n is not None]
            self._nodes = []
            tree_id = (
                self._reused_tree(nodes)
                or archiver.repo.save_blob(BlobType.TREE, encode_tree(nodes))[0]
            )
            old = self._old_node
            if old is not None and old.subtree == tree_id and matches(old, self._entry.st):
                node = old
            else:
                fields = node_fields(self._entry.name, self._entry.st)
                node = Node.model_validate({**fields, "subtree": tree_id})
        except BaseException as exc:
            archiver.fail(exc)
        if node is not None:
            archiver.dir_finished(self, tree_id)
        archiver.stats.add("dirs")
        if self._parent is not None:
            self._parent.complete(self._slot, node)
        else:
            archiver.root_done(tree_id)

    def _reused_tree(self, nodes: list[Node | EncodedFile]) -> bytes | None:
        """The parent's tree id, when every entry kept its old node as it was read."""
        old = self._old_tree
        if old is None or not old.kept_whole(nodes):
            return None
        return old.tree_id if self._archiver.repo.has_blob(BlobType.TREE, old.tree_id) else None


class Archiver:
    """One backup run. Not reusable."""

    def __init__(
        self,
        repo: Repository,
        options: BackupOptions,
        *,
        progress: BackupProgressCallback | None = None,
        resume_from: BackupCheckpoint | None = None,
    ) -> None:
        self.repo = repo
        self.options = options
        self.stats = _Stats()
        self._progress = progress
        self._resume_from = resume_from
        self._chunker = Chunker(options.chunker)
        self._workers = max(2, (os.cpu_count() or 2) + 1)
        self._small_files: WorkerPool | None = None
        self._seal_settings = SealSettings(
            repo.key, repo.compression_level, self._chunker.params.min_size, _SMALL_BATCH_BYTES
        )
        self._has_data = repo.blob_check(BlobType.DATA)
        self._small_seen = 0
        self._pool_lock = threading.Lock()
        # Asked for, workers start at once; by default when worth it.
        self._pool_after = 0 if options.processes is not None else WORTH_A_POOL
        self._processes, plan = self._plan_memory()
        self._read_budget, self._flight_budget = plan.budgets()
        self._failure: BaseException | None = None
        self._failure_lock = threading.Lock()
        self._root_done = threading.Event()
        self._root_tree: bytes = b""
        self._file_slots = threading.BoundedSemaphore(options.files * 2)
        self._chunk_pool = ThreadPoolExecutor(self._workers, thread_name_prefix="chunk")
        self._file_pool = ThreadPoolExecutor(options.files, thread_name_prefix="file")
        self._tree_pool = ThreadPoolExecutor(4, thread_name_prefix="parent-tree")
        self._hardlinks: dict[tuple[int, int], tuple[int, int, list[bytes]]] = {}
        self._started = time.monotonic()
        self._uploaded_before = repo.stats.bytes_uploaded
        self._parent_id: str | None = None
        # What this run has finished, for checkpoints; and what an interrupted run had.
        self._work_lock = threading.Lock()
        self._active_dirs: set[_DirJob] = set()
        self._finished_dirs: dict[str, bytes] = {}
        finished = resume_from.finished if resume_from is not None else FinishedWork()
        self._resumed_dirs = finished.dirs
        self._resumed_files = finished.files
        # A worker compares a directory with its parent tree alone: not with an
        # interrupted run's nodes, nor with exclude patterns.
        self._scan_in_workers = not (finished.dirs or finished.files or options.exclude)
        # A directory without a parent tree (nor an interrupted run's nodes) is listed
        # without an `lstat` of each regular file: the worker reading it does that.
        self._list_unstated = not (finished.dirs or finished.files)
        # Files a small-file batch handed back (see `_take_handed_back`), and the batches
        # not answered yet.
        self._handed_back: queue.SimpleQueue[tuple[_DirJob, Entry, int]] = queue.SimpleQueue()
        self._batches_out = 0
        self._batch_answered = threading.Condition()

    def _plan_memory(self) -> tuple[int, MemoryPlan]:
        """The memory plan, and how many small-file worker processes fit in it."""
        options, repo = self.options, self.repo
        return plan_with_workers(
            options.processes,
            memory_per_worker(_SMALL_BATCH_BYTES),
            lambda workers_memory: plan_memory(
                options.memory_limit_mib,
                pack_size=repo.pack_size,
                # Two open packs, and each pending upload joins its pack into one more.
                pack_buffers=2 + 2 * repo.max_pending_packs,
                max_chunk=options.chunker.max_size,
                workers=self._workers,
                index=repo.index.memory(),
                # Hard-linked small files, read whole by the file threads.
                unbudgeted=options.files * options.chunker.min_size + workers_memory,
            ),
        )

    # -- failure handling -------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        with self._failure_lock:
            if self._failure is None:
                self._failure = exc
        self._root_done.set()
        with self._batch_answered:
            self._batch_answered.notify_all()

    def _check_failed(self) -> None:
        if self._failure is not None:
            raise BackupAborted from self._failure

    def dir_started(self, job: _DirJob) -> None:
        with self._work_lock:
            self._active_dirs.add(job)

    def dir_finished(self, job: _DirJob, tree_id: bytes) -> None:
        """Record a finished directory in place of its finished subdirectories."""
        with self._work_lock:
            self._active_dirs.discard(job)
            for child in job.finished_children:
                self._finished_dirs.pop(child, None)
            self._finished_dirs[job.rel] = tree_id
            if job.parent is not None:
                job.parent.finished_children.append(job.rel)

    def finished_work(self) -> FinishedWork:
        """A bounded record of finished directories and of the largest finished files whose
        blobs are all in uploaded packs (what a resumed run can really take as done)."""
        index = self.repo.index
        with self._work_lock:
            finished = list(self._finished_dirs.items())
            active = list(self._active_dirs)
        dirs = [(rel, tree) for rel, tree in finished if index.has(BlobType.TREE, tree)]
        dirs = dirs[:_RESUME_MAX_DIRS]
        files: list[tuple[str, Node | EncodedFile]] = []
        for job in active:
            prefix = f"{job.rel}/" if job.rel else ""
            files += [
                (prefix + node.name, node)
                for node in job.finished_files()
                if all(index.has(BlobType.DATA, blob) for blob in node.content or ())
            ]
        files.sort(key=lambda item: item[1].size, reverse=True)
        kept: dict[str, dict[str, Any]] = {}
        blobs = 0
        for rel, node in files:
            blobs += len(node.content or ())
            if blobs > _RESUME_MAX_BLOBS:
                break
            kept[rel] = node.to_json_dict()
        return FinishedWork(dirs={rel: tree.hex() for rel, tree in dirs}, files=kept)

    def _resumed_tree(self, rel: str) -> ParentTree | None:
        """The interrupted run's tree of a directory, if it is stored."""
        hex_id = self._resumed_dirs.get(rel)
        if hex_id is None:
            return None
        tree_id = bytes.fromhex(hex_id)
        if not self.repo.has_blob(BlobType.TREE, tree_id):
            return None
        return self._load_parent_tree(tree_id)

    def _load_parent_tree(self, tree_id: bytes) -> ParentTree:
        json, documents = self.repo.load_tree_blob(tree_id)
        return ParentTree(tree_id, documents, json)

    def _prepare_subdir(self, key: tuple[str, bytes]) -> _PreparedDir:
        """A subdirectory's parent tree, and its comparison by a worker when worth it."""
        path, tree_id = key
        tree = self._load_parent_tree(tree_id)
        return _PreparedDir(tree, self._scan_ahead(path, tree))

    def _scan_ahead(self, path: str, tree: ParentTree) -> Future[ScanResult] | None:
        if not self._scan_in_workers or tree.json is None or len(tree.documents) < _SCAN_AT_LEAST:
            return None
        workers = self._backup_workers(start=True)
        if workers is None:
            return None
        scanned: Future[ScanResult] = Future()

        def answered(answer: ScanResult | BaseException) -> None:
            if isinstance(answer, BaseException):
                scanned.set_exception(answer)
            else:
                scanned.set_result(answer)

        workers.submit((SCAN, (path, tree.json)), answered)
        return scanned

    def root_done(self, tree_id: bytes) -> None:
        self._root_tree = tree_id
        self._root_done.set()

    # -- the run ----------------------------------------------------------------------

    def run(self, source: str) -> BackupResult:
        with long_lived_objects_left_alone():
            return self._run(source)

    def _run(self, source: str) -> BackupResult:
        limit_allocator_arenas()
        label = os.path.abspath(source)
        source = os.path.realpath(source)  # the source may be a symlink to the directory
        root_st = os.stat(source)
        if not stat.S_ISDIR(root_st.st_mode):
            raise NotADirectoryError(f"{source} is not a directory")
        if self._resume_from is not None:
            resume_repository(self.repo, self._resume_from)
        # (The interrupted run's tree is newer than the parent snapshot's.)
        parent_tree = self._resumed_tree("") or self._parent_tree()
        if self.options.scan_totals:
            counter = threading.Thread(target=self._count, args=(source,), daemon=True)
            counter.start()
        stop_progress = threading.Event()
        reporter = threading.Thread(target=self._report_loop, args=(stop_progress,), daemon=True)
        reporter.start()
        try:
            root = _DirJob(
                self,
                Entry(name="", path=source, st=root_st),
                None,
                0,
                old_tree=parent_tree,
            )
            try:
                self._walk(source, "", root, parent_tree)
                self._take_handed_back(until_all_answered=True)
            finally:
                root.seal()
            self._root_done.wait()
            self._check_failed()
            self._stop_small_files()
            self._file_pool.shutdown(wait=True)
            self._chunk_pool.shutdown(wait=True)
            self._tree_pool.shutdown(wait=True)
            self.repo.flush()
        except BaseException:
            # Queued chunks are not cancelled: they give their bytes back to the budget a
            # file thread may be waiting on (and do nothing else once the run has failed).
            self._chunk_pool.shutdown(wait=False)
            self._stop_small_files(kill=True)
            for pool in (self._file_pool, self._tree_pool):
                pool.shutdown(wait=False, cancel_futures=True)
            stop_progress.set()
            if self._failure is not None and not isinstance(self._failure, BackupAborted):
                raise self._failure from None
            raise
        stop_progress.set()
        reporter.join()
        snapshot_id = self.repo.save_snapshot(self._snapshot(label))
        self._report(with_checkpoint=False)
        total = self.stats.counters.total()
        return BackupResult(
            snapshot_id=snapshot_id,
            tree=self._root_tree.hex(),
            bytes_uploaded=self._uploaded(),
            duration=time.monotonic() - self._started,
            warnings=list(self.stats.warnings),
            **total,
        )

    def _snapshot(self, source: str) -> Snapshot:
        snapshot = Snapshot.new(
            self._root_tree,
            list(self.options.paths or (source,)),
            tags=list(self.options.tags),
            hostname=self.options.hostname,
            parent=bytes.fromhex(self._parent_id) if self._parent_id else None,
        )
        snapshot.excludes = list(self.options.exclude) or None
        return snapshot

    def _parent_tree(self) -> ParentTree | None:
        if self.options.parent is None:
            return None
        snapshot_id, snapshot = self.repo.load_snapshot(self.options.parent)
        self._parent_id = snapshot_id
        return self._load_parent_tree(snapshot.tree)

    # -- walking ----------------------------------------------------------------------

    def _excluded(self, rel: str) -> bool:
        exclude = self.options.exclude
        return bool(exclude) and any(fnmatch.fnmatch(rel, pattern) for pattern in exclude)

    def _walk(
        self,
        path: str,
        rel: str,
        job: _DirJob,
        parent: ParentTree | None,
        scanned: Future[ScanResult] | None = None,
    ) -> None:
        try:
            items = self._list(path, parent, scanned.result() if scanned is not None else None)
        except OSError as exc:
            self.stats.warn(f"cannot list {path}: {exc.strerror or exc}")
            return
        # The parent's trees of the subdirectories, fetched a few ahead of the walk (and
        # compared by the workers, when large).
        old_dirs = parent.subtrees() if parent is not None else {}
        old_subdirs = Prefetch(
            self._tree_pool,
            self._prepare_subdir,
            [(e.path, old_dirs[e.name]) for e in items if type(e) is Entry and e.name in old_dirs],
        )
        # Small files go to the worker processes in batches: one hand-off per file would
        # make this thread (which needs the GIL for every file) the bottleneck.
        batch = _SmallBatch()
        has_data = self._has_data
        for entry in items:
            self._check_failed()
            if not self._handed_back.empty():
                self._take_handed_back(until_all_answered=False)
            if isinstance(entry, EncodedFile):  # found unchanged by a worker
                self._take_unchanged(job, entry)
                continue
            entry_rel = f"{rel}/{entry.name}" if rel else entry.name
            if self._excluded(entry_rel):
                continue
            if isinstance(entry, Listed):  # a regular file, sized by the worker reading it
                if batch.add(entry, job.add_slot()):
                    self._submit_small(job, batch.files)
                    batch = _SmallBatch()
                continue
            kind = entry.type
            if kind not in (NodeType.FILE, NodeType.DIR, NodeType.SYMLINK):
                self.stats.warn(f"skipped {entry.path}: {kind or 'unknown type'}, not stored")
                continue
            if kind is NodeType.FILE:
                old = parent.get(entry.name) if parent is not None else None
                resumed = self._resumed_files.get(entry_rel)
                unchanged = unchanged_file(entry.name, entry.st, (old, resumed), has_data)
                if unchanged is not None:
                    # Taken from the parent without reading: no need for a file thread.
                    self._take_unchanged(job, unchanged)
                    continue
            slot = job.add_slot()
            if kind is NodeType.FILE:
                if self._for_a_file_thread(entry.st):
                    self._submit_files(job, [(entry, slot)])
                    continue
                if batch.add(entry, slot, entry.st.st_size):
                    self._submit_small(job, batch.files)
                    batch = _SmallBatch()
            elif kind is NodeType.SYMLINK:
                old_link = parent.node(entry.name, kind) if parent is not None else None
                job.complete(slot, self._symlink_node(entry, old_link))
            else:
                if batch.files:
                    self._submit_small(job, batch.files)
                    batch = _SmallBatch()
                old_id = old_dirs.get(entry.name)
                try:
                    prepared = old_subdirs.get((entry.path, old_id)) if old_id is not None else None
                except BaseException:
                    job.complete(slot, None)
                    raise
                old_tree = prepared.tree if prepared is not None else None
                scanned = prepared.scanned if prepared is not None else None
                old_dir = None
                if parent is not None and old_tree is not None:
                    old_dir = parent.node(entry.name, kind)
                # (The interrupted run's tree is newer than the parent snapshot's.)
                resumed_tree = self._resumed_tree(entry_rel)
                if resumed_tree is not None:
                    old_tree, scanned = resumed_tree, None
                child = _DirJob(
                    self, entry, job, slot, rel=entry_rel, old_node=old_dir, old_tree=old_tree
                )
                try:
                    self._walk(entry.path, entry_rel, child, old_tree, scanned)
                finally:
                    child.seal()
        if batch.files:
            self._submit_small(job, batch.files)

    def _take_unchanged(self, job: _DirJob, node: EncodedFile) -> None:
        """Count a file taken from the parent snapshot without reading it, and add it."""
        counters = self.stats.counters.mine()
        counters["files"] += 1
        counters["files_unmodified"] += 1
        counters["bytes_total"] += node.size
        job.add_done(node)

    def _list(
        self, path: str, parent: ParentTree | None, scanned: ScanResult | None
    ) -> list[Entry | Listed | EncodedFile]:
        """The directory's entries by name: as listed here, or as a worker compared them
        with `parent` (its unchanged files already as their nodes)."""
        if parent is None and self._list_unstated:
            return list(list_dir_files_unstated(path))
        if scanned is None or parent is None or (scanned and scanned[0][0] == UNLISTABLE):
            return list(list_dir(path))
        prefix = path if path.endswith("/") else path + "/"
        items: list[Entry | Listed | EncodedFile] = []
        for item in scanned:
            if item[0] == ENTRY:
                items.append(Entry(item[1], prefix + item[1], item[2]))
                continue
            index = item[1]
            doc, name = parent.documents[index], parent.names[index]
            content = stored_content(doc["content"], self._has_data)
            if content is not None:
                size = doc.get("size", 0)
                if item[0] == KEPT:
                    items.append(EncodedFile(name, size, content, source=doc))
                else:
                    items.append(EncodedFile(name, size, content, item[2]))
                continue
            try:  # some of its content is gone from the repository: read it again
                st = os.stat(prefix + name, follow_symlinks=False)
            except FileNotFoundError:
                continue
            items.append(Entry(name, prefix + name, st))
        return items

    def _submit_files(self, job: _DirJob, files: list[tuple[Entry, int]]) -> None:
        self._file_slots.acquire()
        try:
            self._file_pool.submit(self._file_job, job, files)
        except BaseException:
            self._file_slots.release()
            for _, slot in files:
                job.complete(slot, None)
            raise

    def _submit_small(self, job: _DirJob, files: list[tuple[Entry | Listed, int]]) -> None:
        """Small files (one blob each) go to the worker processes, or, without any, to a
        file thread that reads and seals them the same way."""
        self._file_slots.acquire()
        batch = [(os.fsencode(entry.path), entry.name) for entry, _ in files]
        self._small_seen += len(files)
        with self._batch_answered:
            self._batches_out += 1
        try:
            workers = self._backup_workers(start=self._small_seen > self._pool_after)
            if workers is not None:
                workers.submit(
                    (SEAL, batch), lambda results: self._small_files_done(job, files, results)
                )
            else:
                self._file_pool.submit(self._read_and_seal_here, job, files, batch)
        except BaseException:
            self._file_slots.release()
            self._batch_done()
            for _, slot in files:
                job.complete(slot, None)
            raise

    def _take_handed_back(self, *, until_all_answered: bool) -> None:
        """Send on the files small-file batches handed back (found large or hard-linked, or
        past a batch's bytes), as the walk sends a file it has `lstat`ed; at the walk's end,
        until every batch is answered. (The walk's thread does this because it alone waits
        for file slots: the threads that take the answers release them.)"""
        batches: dict[_DirJob, _SmallBatch] = {}
        while True:
            try:
                job, entry, slot = self._handed_back.get_nowait()
            except queue.Empty:
                for job, batch in batches.items():
                    self._submit_small(job, batch.files)
                batches.clear()
                if until_all_answered and self._wait_for_handed_back():
                    continue
                return
            if self._failure is not None:
                job.complete(slot, None)
                continue
            if self._for_a_file_thread(entry.st):
                self._submit_files(job, [(entry, slot)])
                continue
            if batches.setdefault(job, _SmallBatch()).add(entry, slot, entry.st.st_size):
                self._submit_small(job, batches.pop(job).files)

    def _for_a_file_thread(self, st: os.stat_result) -> bool:
        """Files of a chunk or more, and hard-linked ones (read once for all their names),
        are read by the file threads; the others go in small-file batches."""
        return st.st_size >= self._chunker.params.min_size or st.st_nlink > 1

    def _wait_for_handed_back(self) -> bool:
        """Wait until a file is handed back (True) or every batch is answered (False)."""
        with self._batch_answered:
            while self._handed_back.empty() and self._batches_out and self._failure is None:
                self._batch_answered.wait()
            return not self._handed_back.empty() and self._failure is None

    def _batch_done(self) -> None:
        with self._batch_answered:
            self._batches_out -= 1
            self._batch_answered.notify_all()

    def _backup_workers(self, *, start: bool) -> WorkerPool | None:
        """The worker processes, if any; `start` them once they are worth their start: the
        walk has met enough small files (an incremental backup often meets a few only), or
        a large directory to compare with its parent tree."""
        with self._pool_lock:
            if self._small_files is None and self._processes and start:
                self._small_files = WorkerPool(HANDLER, self._seal_settings, self._processes)
            return self._small_files

    def _stop_small_files(self, *, kill: bool = False) -> None:
        if self._small_files is not None:
            self._small_files.close(kill=kill)

    def _read_and_seal_here(
        self, job: _DirJob, files: list[tuple[Entry | Listed, int]], batch: list[tuple[bytes, str]]
    ) -> None:
        results: list[SmallFileResult] | BaseException
        try:
            results = seal_batch(batch, self._seal_settings)
        except BaseException as exc:
            results = exc
        self._small_files_done(job, files, results)

    def _small_files_done(
        self,
        job: _DirJob,
        files: list[tuple[Entry | Listed, int]],
        results: list[SmallFileResult] | BaseException,
    ) -> None:
        """Store a batch's sealed blobs and complete its files; hand the others back to
        the walk."""
        try:
            if isinstance(results, BaseException):
                self.fail(results)
            stored = None if isinstance(results, BaseException) else self._store_sealed(results)
            if stored is None or isinstance(results, BaseException):
                for _, slot in files:
                    job.complete(slot, None)
                return
            counters = self.stats.counters.mine()
            for (entry, slot), result in zip(files, results, strict=True):
                if result[0] == HANDED_BACK:
                    self._handed_back.put((job, Entry(entry.name, entry.path, result[1]), slot))
                    continue
                node: EncodedFile | None = None
                if result[0] == UNREADABLE:
                    self.stats.warn(result[1])
                else:
                    node = self._small_file_node(entry, result, stored, counters)
                job.complete(slot, node)
        finally:
            self._file_slots.release()
            self._batch_done()

    def _store_sealed(self, results: list[SmallFileResult]) -> Iterator[bool] | None:
        """Add a batch's sealed blobs to packs; whether each was new, in order (None if
        the run failed)."""
        if self._failure is not None:
            return None
        blobs: list[SealedBlob] = [
            (result[3], result[4], result[5], result[2])
            for result in results
            if result[0] == SEALED and result[3] is not None
        ]
        try:
            return iter(self.repo.save_sealed_blobs(BlobType.DATA, blobs))
        except BaseException as exc:
            self.fail(exc)
            return None

    def _small_file_node(
        self,
        entry: Entry | Listed,
        result: SmallFileResult,
        stored: Iterator[bool],
        counters: dict[str, int],
    ) -> EncodedFile:
        """A sealed small file's node (see `SmallFileResult`), counted; `stored` says whether
        its blob was new, if it has one."""
        _, document, size, blob_id, _, _, changed_again = result
        self.stats.current_file = entry.path
        if changed_again:
            self.stats.warn(f"{entry.path} changed again while it was read; kept as read")
        content: list[bytes] = []
        if blob_id is not None:
            if next(stored):
                counters["bytes_new"] += size
            content.append(blob_id)
        counters["files"] += 1
        counters["bytes_read"] += size
        counters["bytes_total"] += size
        return EncodedFile(entry.name, size, content, document)

    def _symlink_node(self, entry: Entry, old: Node | None) -> Node | None:
        try:
            target = os.readlink(entry.path)
        except OSError as exc:
            self.stats.warn(f"cannot read symlink {entry.path}: {exc.strerror or exc}")
            return None
        self.stats.add("files")
        if old is not None and old.linktarget == target and matches(old, entry.st):
            return old
        return Node.model_validate({**node_fields(entry.name, entry.st), "linktarget": target})

    # -- files ------------------------------------------------------------------------

    def _file_job(self, job: _DirJob, files: list[tuple[Entry, int]]) -> None:
        try:
            for entry, slot in files:
                node: Node | None = None
                try:
                    if self._failure is None:
                        node = self._archive_file(entry)
                except BaseException as exc:
                    self.fail(exc)
                job.complete(slot, node)
        finally:
            self._file_slots.release()

    def _archive_file(self, entry: Entry) -> Node | None:
        self.stats.current_file = entry.path
        read = self._read_file(entry.path)
        if read is not None and read.changed:
            # A live volume: the file was written while we read it. Once more, then keep it.
            read = self._read_file(entry.path)
            if read is not None and read.changed:
                self.stats.warn(f"{entry.path} changed again while it was read; kept as read")
        if read is None:
            return None
        self.stats.add("files")
        self.stats.add("bytes_total", read.size)
        return file_node(entry.name, read.st, read.content, read.size)

    def _read_file(self, path: str) -> _FileRead | None:
        """Read and store a file's content; None (with a warning) if it cannot be read."""
        try:
            fd = open_for_reading(path)
        except FileNotFoundError:
            self.stats.warn(f"{path} vanished before it was read")
            return None
        except OSError as exc:
            self.stats.warn(f"cannot read {path}: {exc.strerror or exc}")
            return None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                self.stats.warn(f"skipped {path}: no longer a regular file")
                return None
            content, size = self._read_content(fd, before)
            after = os.fstat(fd)
        except OSError as exc:
            self.stats.warn(f"cannot read {path}: {exc.strerror or exc}")
            return None
        finally:
            os.close(fd)
        changed = (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
        return _FileRead(before, content, size, changed or size != before.st_size)

    def _read_content(self, fd: int, st: os.stat_result) -> tuple[list[bytes], int]:
        """Chunk the open file; returns the blob ids and how many bytes were read."""
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1:
            known = self._hardlinks.get(key)
            if known is not None and known[:2] == (st.st_size, st.st_mtime_ns):
                return list(known[2]), st.st_size
        if st.st_size < self._chunker.params.min_size:
            # (A hard-linked small file, or one that shrank since the listing.)
            data = read_small(fd, st.st_size, self._chunker.params.min_size)
            if data is not None:
                self.stats.add("bytes_read", len(data))
                content = [self._store_chunk(data, 0)] if data else []
                if st.st_nlink > 1:
                    self._hardlinks[key] = (st.st_size, st.st_mtime_ns, content)
                return content, len(data)
            os.lseek(fd, 0, os.SEEK_SET)  # it grew past one chunk since the stat
        parts: list[Future[bytes]] = []
        size = 0

        def read_into(buffer: memoryview) -> int:
            return os.readv(fd, [buffer])

        with self._read_budget.reserve(self._chunker.buffer_size_for(st.st_size)):
            for view in self._chunker.chunks(read_into, st.st_size):
                self._check_failed()
                taken = self._flight_budget.acquire(len(view))
                data = bytes(view)
                size += len(data)
                self.stats.add("bytes_read", len(data))
                parts.append(self._chunk_pool.submit(self._store_chunk, data, taken))
        content = [p.result() for p in parts]
        if st.st_nlink > 1:
            self._hardlinks[key] = (st.st_size, st.st_mtime_ns, content)
        return content, size

    def _store_chunk(self, data: bytes, taken: int) -> bytes:
        try:
            self._check_failed()
            blob_id = hash_bytes(data)
            _, new = self.repo.save_blob(BlobType.DATA, data, blob_id)
            if new:
                self.stats.add("bytes_new", len(data))
            return blob_id
        finally:
            self._flight_budget.release(taken)

    def _uploaded(self) -> int:
        return self.repo.stats.bytes_uploaded - self._uploaded_before

    # -- progress ---------------------------------------------------------------------

    def _count(self, source: str) -> None:
        """Count files and bytes for the progress totals, beside the real walk."""
        files, size = count_tree(source)
        self.stats.files_total, self.stats.bytes_total = files, size

    def _report_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.options.progress_interval):
            try:
                self._report(with_checkpoint=True)
            except BaseException as exc:
                # A failing callback (e.g. a cancelled activity's heartbeat) stops the run.
                self.fail(exc)
                return

    def _report(self, *, with_checkpoint: bool) -> None:
        if self._progress is None:
            return
        checkpoint = None
        if with_checkpoint:
            checkpoint = BackupCheckpoint(
                repo=self.repo.checkpoint(), taken_at=time.time(), finished=self.finished_work()
            )
        stats = self.stats
        total = stats.counters.total()
        progress = BackupProgress(
            files_done=total["files"],
            files_total=stats.files_total,
            dirs_done=total["dirs"],
            bytes_read=total["bytes_read"],
            bytes_total=stats.bytes_total,
            bytes_new=total["bytes_new"],
            bytes_uploaded=self._uploaded(),
            current_file=stats.current_file,
            elapsed=time.monotonic() - self._started,
            checkpoint=checkpoint,
        )
        self._progress(progress)


def resume_repository(repo: Repository, checkpoint: BackupCheckpoint) -> None:
    """Adopt what an interrupted run stored, so none of it is uploaded again.

    Besides the packs the checkpoint names, this adopts packs that no index names and that
    were written after the checkpoint was taken: the interrupted run uploaded them between
    its last checkpoint and its end. (Should one belong to a concurrent writer instead, it
    is merely named by two index files, which restic accepts.)
    """
    known = set(checkpoint.repo.packs)
    orphans: list[str] = []
    if checkpoint.taken_at is not None:
        since = checkpoint.taken_at - _ORPHAN_CLOCK_MARGIN_S
        orphans = [
            info.name
            for info in repo.backend.list(FileType.DATA)
            if info.mtime >= since
            and info.name not in known
            and not repo.index.has_pack(bytes.fromhex(info.name))
        ]
    if orphans:
        log.info("backup.resume.orphans", packs=len(orphans))
    repo.resume(
        RepoCheckpoint(packs=[*checkpoint.repo.packs, *orphans], indexes=checkpoint.repo.indexes)
    )


def backup_tree(
    repo: Repository,
    source: str,
    options: BackupOptions,
    *,
    progress: Callable[[BackupProgress], None] | None = None,
    resume_from: BackupCheckpoint | None = None,
) -> BackupResult:
    """Back up the directory `source` into `repo` and save a snapshot of it."""
    return Archiver(repo, options, progress=progress, resume_from=resume_from).run(source)
