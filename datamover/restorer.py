"""Restore of a snapshot (or a path inside it) into a directory.

The restore is pack-oriented, as restic's is: the trees are walked first, creating every
directory, symlink and (empty, sized) file; then each pack that holds needed blobs is read
once, in as few ranged requests as the blobs' layout allows, and every blob is verified and
written to every place that needs it. This turns 100,000 small files into a few hundred
requests instead of 100,000.

Nothing from the repository can write outside the target: names with `/` or NUL, `.`, `..`
and duplicates are refused; directories are opened with O_NOFOLLOW relative to their
parent's descriptor; files are opened with O_NOFOLLOW; the target is resolved once.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import gc
import os
import pickle
import stat
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

import structlog

from datamover.backend.base import FileType
from datamover.blobs import BlobType, PackedBlob, decode_blob
from datamover.budget import (
    ByteBudget,
    MemoryPlan,
    limit_allocator_arenas,
    long_lived_objects_left_alone,
    most_processes,
    plan_memory,
    plan_with_workers,
)
from datamover.counters import ThreadCounters
from datamover.errors import DatamoverError, SnapshotNotFoundError
from datamover.filewrite import (
    WHOLE_FILE_WRITER,
    FileMetadata,
    Metadata,
    PlainFileMetadata,
    PlainPackedBlob,
    UnsafeNameError,
    WholeFile,
    WriteAnswer,
    WriteRequest,
    WriterSettings,
    apply_metadata,
    create_file,
    is_zero,
    pwrite_all,
    write_whole_files,
)
from datamover.ids import ID_SIZE
from datamover.jobs import RestoreOptions, RestoreProgress, RestoreProgressCallback, RestoreResult
from datamover.jsonfmt import go_unquote
from datamover.modes import NodeType, posix_permissions
from datamover.prefetch import Prefetch
from datamover.repository import Repository
from datamover.sharedmemory import SharedBytes, SharedSlots
from datamover.tree import Node, Tree
from datamover.treejson import subtree_id
from datamover.workerpool import WORKER_BASELINE, WORTH_A_POOL, StartedWorkers, WorkerPool

log = structlog.get_logger(__name__)

_GAP = 4 * 1024 * 1024
"""Blobs closer than this in a pack are fetched with one request (the gap is read too).
A request has a cost of its own: SeaweedFS spends ~4.5 ms of CPU on any range up to 4 MiB
(measured), what serving ~3.5 MiB more costs it; S3 bills and waits per request."""
_RANGE_SIZES = (24 * 1024 * 1024, 8 * 1024 * 1024)
"""The most a request reads: a whole default pack (16 MiB and the blob that filled it) in
one request where the memory limit leaves room for it, else a third of one. The restore
of the 1 GiB benchmark made 138 requests of 42 packs with 8 MiB, 49 with 24 MiB, and
SeaweedFS spent a third less CPU serving them (0.4 s)."""
_PIECE_SIZE = 4 * 1024 * 1024
"""What a fetch thread reads of its range at a time (a larger blob is a piece of its own),
and what a worker gets at once. A range stays one request, but eight threads each holding
theirs whole (up to 24 MiB) kept ~190 MiB of downloads in memory, and each worker a buffer
as large: peak RSS of the benchmark's restores, mixed 307 -> 166 MiB, small files ~365 ->
299 MiB, with a little less CPU (new memory costs ~3.5 us a page on its VM). Pieces of
2 MiB made twice as many requests to the workers, and cost the small files' restore 2%."""
_PIECES_AHEAD = 2
"""Pieces a fetch thread has read and not yet seen written: the workers have the next one
while a piece is being written."""
_SHARED_SLOTS = 16
"""Pieces (of `_PIECE_SIZE`) the memory shared with the workers holds at most: one for each
piece the default eight fetch threads may hold. With more threads, a piece that finds no
slot free is read into new bytes, and what the workers need of it crosses their pipes."""
_MAX_SPANS = 64
"""Pieces of a range sent to a worker (the runs of its one-blob files' blobs); more than
that, and the worker gets the range from the first such blob to the last."""
_FLUSH_FILES = 2000
"""Files planned between two hand-offs to the fetch threads."""
_WRITERS = 2
"""Workers that verify and write at once; the others download meanwhile. Writing a small
file lets go of the GIL six times (open, write, chown, chmod, utime, close): sixteen
threads taking it back in turn spent more system time in futex calls than in the writes
(20,000 files: 4-8 s of system time, 2.4-4.2 s with two writers)."""


def check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafeNameError(f"refusing unsafe name {name!r} in the snapshot")


class _Choice(enum.Enum):
    """What the include or exclude patterns make of an entry of a directory."""

    RESTORE = "restore"
    ON_THE_WAY = "on the way"
    """Not selected itself, but entries below it may be: created, without its metadata."""
    SKIP = "skip"


_RESTORE, _ON_THE_WAY, _SKIP = _Choice.RESTORE, _Choice.ON_THE_WAY, _Choice.SKIP


class _FilePlan(NamedTuple):
    """What restore needs of a file's node."""

    name: str
    size: int
    content: list[bytes]
    links: int
    inode: int
    device_id: int
    meta: PlainFileMetadata
    """A `FileMetadata` as a plain tuple, as it goes to the workers."""

    @classmethod
    def of_node(cls, node: Node) -> _FilePlan:
        content = node.content or []
        return cls(
            node.name, node.size, content, node.links, node.inode, node.device_id,
            cast(PlainFileMetadata, tuple(FileMetadata.of(node))),
        )  # fmt: skip

    @classmethod
    def of_document(cls, name: str, doc: dict[str, Any]) -> _FilePlan | None:
        """Read from the node's JSON without validating a `Node` (which cost a restore of
        many small files a sixth of its time); None if anything in it is unusual: the
        caller then validates it as a `Node`, which says what is wrong. The times are
        parsed where they are applied (see `FileMetadata`)."""
        get = doc.get
        size, links, inode, device_id = (
            get("size", 0),
            get("links", 0),
            get("inode", 0),
            get("device_id", 0),
        )
        mode, uid, gid = get("mode", 0), get("uid", 0), get("gid", 0)
        mtime, atime = get("mtime"), get("atime")
        if not (
            (mtime is None or type(mtime) is str)
            and (atime is None or type(atime) is str)
            and type(size) is int
            and type(links) is int
            and type(inode) is int
            and type(device_id) is int
            and type(mode) is int
            and type(uid) is int
            and type(gid) is int
        ):
            return None
        hex_ids = get("content") or []
        if not isinstance(hex_ids, list):
            return None
        try:
            content = [bytes.fromhex(hex_id) for hex_id in hex_ids]
        except (TypeError, ValueError):
            return None
        for blob_id in content:
            if len(blob_id) != ID_SIZE:
                return None
        meta = (posix_permissions(mode), uid, gid, atime, mtime)
        return cls(name, size, content, links, inode, device_id, meta)


def _node(doc: dict[str, Any]) -> Node:
    """A directory's or symlink's node, validated; InvalidNodeError if it is not one."""
    try:
        return Node.from_json_dict(doc)
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
        raise InvalidNodeError(f"not a valid node ({reason})") from exc


class InvalidNodeError(DatamoverError):
    """A node in a tree is not what restic writes."""


class _FileState:
    """A file being filled; finished (metadata applied) when its last blob is written."""

    __slots__ = ("created", "failed", "lock", "meta", "path", "remaining", "single", "size")

    def __init__(self, path: str, size: int, meta: PlainFileMetadata, remaining: int) -> None:
        self.path = path
        self.size = size
        self.meta = meta
        self.remaining = remaining
        self.single = remaining == 1
        """One blob fills it: written whole (`filewrite.write_whole_files`)."""
        self.failed = False
        self.created = False
        self.lock = _ONE_BLOB_LOCK if remaining <= 1 else threading.Lock()
        """Held for the fields above. A file of one blob is taken by one thread at a time
        anyway: those share one lock, not one each (most files of a large restore)."""


_ONE_BLOB_LOCK = threading.Lock()


class _Target(NamedTuple):
    """Where a blob goes: a tuple, made once per blob of the plan."""

    file: _FileState
    offset: int


class _Stats:
    """Counters written by the fetch threads (see `ThreadCounters`), totals of the plan,
    and the errors and warnings."""

    def __init__(self) -> None:
        self.counters = ThreadCounters("files", "bytes_written")
        self.files_total = self.bytes_total = self.dirs = self.symlinks = 0
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._lock = threading.Lock()

    def error(self, message: str) -> None:
        log.error("restore.error", message=message)
        with self._lock:
            self.errors.append(message)


class Restorer:
    """One restore run. Not reusable."""

    def __init__(
        self,
        repo: Repository,
        options: RestoreOptions,
        *,
        progress: RestoreProgressCallback | None = None,
    ) -> None:
        self.repo = repo
        self.options = options
        self._progress = progress
        self._owner = options.owner if options.owner is not None else os.geteuid() == 0
        self.stats = _Stats()
        self._needs: dict[bytes, dict[PackedBlob, list[_Target]]] = {}
        self._dirs: list[tuple[str, Metadata, bool]] = []
        """Each directory, its metadata, and whether it stays if nothing was restored in it
        (see `_plan_subdir`)."""
        self._tree_pool = ThreadPoolExecutor(4, thread_name_prefix="restore-tree")
        self._inodes: dict[tuple[int, int], tuple[_FileState, list[bytes]]] = {}
        self._links: list[tuple[_FileState, _FileState]] = []
        processes = most_processes(options.processes)
        self._slots = SharedSlots.create(_PIECE_SIZE, self._slot_count()) if processes else None
        """Where pieces are read: the workers see them without a copy through their pipes,
        and the memory is not allocated (and faulted in) again for every piece."""
        self._early_workers: StartedWorkers | None = None
        """Workers started while the index is read (the memory plan needs it), on a core
        otherwise idle then, instead of once the first files are planned: 0.1-0.2 s of a
        large restore's start. (A restore whose index is already read starts them when it
        finds them worth it.)"""
        self._pool: WorkerPool | None = None
        try:
            if processes and repo.index_pending:
                shared = self._shared_fd()
                self._early_workers = StartedWorkers(WHOLE_FILE_WRITER, processes, shared)
            self._max_range, self._processes, plan = self._plan_memory()
            if self._early_workers is not None:
                self._early_workers.keep(self._processes)
            if not self._processes and self._slots is not None:
                self._slots.close()
                self._slots = None
        except BaseException:
            self._close_workers()
            raise
        self._writer_settings = WriterSettings(repo.key, self._owner)
        # (Its threads start with the first fetch.)
        self._fetcher = ThreadPoolExecutor(options.files, thread_name_prefix="restore")
        self._fetches: list[Future[None]] = []
        self._planned_since_flush = 0
        self._latest_pack = b""
        """The pack of the latest planned file's last blob (see `_flush`)."""
        self._packs_fetched: set[bytes] = set()
        """Packs handed to the fetch threads so far."""
        self._one_blob_count = 0
        # Asked for, workers start at once; by default when worth it.
        self._pool_after = 0 if options.processes is not None else WORTH_A_POOL
        self._budget = ByteBudget(plan.in_flight + plan.read_buffers)
        self._writers = threading.BoundedSemaphore(_WRITERS)
        self._selection = options.selection()
        self._root_length = 0
        """Length of the target's path: what follows it in a path is the snapshot's path."""
        self._started = time.monotonic()

    def _plan_memory(self) -> tuple[int, int, MemoryPlan]:
        """The largest range a request reads, how many worker processes fit, and the memory
        plan: larger ranges unless they cost a worker."""
        best: tuple[int, int, MemoryPlan] | None = None
        too_small: ValueError | None = None
        for max_range in _RANGE_SIZES:
            try:
                processes, plan = self._plan_with_ranges(max_range)
            except ValueError as exc:  # (the workers asked for do not fit with these)
                too_small = exc
                continue
            if best is None or processes > best[1]:
                best = (max_range, processes, plan)
        if best is None:
            assert too_small is not None
            raise too_small
        return best

    def _plan_with_ranges(self, max_range: int) -> tuple[int, MemoryPlan]:
        options = self.options
        # A worker holds the piece it is writing, and one blob of it decrypted and
        # decompressed: at most a range each (a piece is smaller, unless one blob is).
        per_worker = WORKER_BASELINE + 3 * max_range
        shared = self._slot_count() * _PIECE_SIZE  # (resident once used, with any worker)
        return plan_with_workers(
            options.processes,
            per_worker,
            lambda workers_memory: plan_memory(
                options.memory_limit_mib,
                pack_size=0,
                pack_buffers=0,
                max_chunk=max_range,
                workers=1,
                index=self.repo.index.memory(),
                unbudgeted=workers_memory + (shared if workers_memory else 0),
            ),
        )

    def _slot_count(self) -> int:
        """Slots of memory shared with the workers: one for each piece the fetch threads may
        hold, up to `_SHARED_SLOTS`."""
        return min(self.options.files * _PIECES_AHEAD, _SHARED_SLOTS)

    # -- the run ----------------------------------------------------------------------

    def run(self, snapshot_ref: str, target: str) -> RestoreResult:
        try:
            return self._run(snapshot_ref, target)
        finally:
            self._close_workers()

    def _run(self, snapshot_ref: str, target: str) -> RestoreResult:
        limit_allocator_arenas()
        snapshot_id, snapshot = self.repo.load_snapshot(snapshot_ref)
        tree, root_node = self._select(self.repo.load_tree(snapshot.tree))
        os.makedirs(target, exist_ok=True)
        root = os.path.realpath(target)
        self._root_length = len(root.rstrip("/"))
        with long_lived_objects_left_alone(), self._fetching():
            root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self._plan_dir(root_fd, root, [node.to_json_dict() for node in tree.nodes])
            finally:
                os.close(root_fd)
                self._tree_pool.shutdown(wait=False, cancel_futures=True)
            self._flush(last=True)
        self._make_hard_links()
        for path, meta, stays in reversed(self._dirs):  # the deepest first
            if stays or not self._removed_if_empty(path):
                self._apply_dir_metadata(path, meta)
        if root_node is not None:
            self._apply_dir_metadata(root, Metadata.of(root_node))
        self._report()
        stats = self.stats
        done = stats.counters.total()
        return RestoreResult(
            snapshot_id=snapshot_id,
            files=done["files"],
            dirs=stats.dirs,
            symlinks=stats.symlinks,
            bytes_written=done["bytes_written"],
            duration=time.monotonic() - self._started,
            errors=list(stats.errors),
            warnings=list(stats.warnings),
        )

    def _shared_fd(self) -> int | None:
        return None if self._slots is None else self._slots.fd

    def _close_workers(self) -> None:
        """Stop the started workers no pool took; then close the shared memory (the pool's
        workers have exited: see `_fetching`)."""
        if self._early_workers is not None:
            self._early_workers.close()
        if self._slots is not None:
            self._slots.close()

    def _select(self, tree: Tree) -> tuple[Tree, Node | None]:
        """The tree to restore: the snapshot's root, or the one at `options.path`."""
        include = (self.options.path or "").strip("/")
        if not include:
            return tree, None
        node: Node | None = None
        for part in include.split("/"):
            if not part or part == ".":
                continue
            node = next((n for n in tree.nodes if n.name == part), None)
            if node is None:
                raise SnapshotNotFoundError(f"path {include!r} is not in the snapshot")
            if node.type is NodeType.DIR and node.subtree is not None:
                tree = self.repo.load_tree(node.subtree)
            else:
                # A single file or symlink: restore it alone, under its own name.
                return Tree(nodes=[node]), None
        return tree, node

    # -- planning: directories, symlinks and empty files ------------------------------

    def _plan_dir(self, dir_fd: int, path: str, documents: list[dict[str, Any]]) -> None:
        """Plan a directory's entries from its tree's JSON: files (most entries) are read
        from it directly, the others validated as `Node`s."""
        prefix = path if path.endswith("/") else path + "/"
        choices = None if self._selection is None else self._choose(prefix, documents)
        ids = [
            subtree_id(doc) if choices is None or choices[index] is not _SKIP else None
            for index, doc in enumerate(documents)
        ]
        subtrees = Prefetch(
            self._tree_pool, self.repo.load_tree_documents, [i for i in ids if i is not None]
        )
        seen: set[str] = set()
        for index, (doc, subtree) in enumerate(zip(documents, ids, strict=True)):
            choice = _RESTORE if choices is None else choices[index]
            if choice is _SKIP:
                continue
            raw_name = doc.get("name")
            name = go_unquote(raw_name) if isinstance(raw_name, str) else ""
            try:
                check_name(name)
                if name in seen:
                    raise UnsafeNameError(f"refusing duplicate name {name!r} in {path}")
                seen.add(name)
            except UnsafeNameError as exc:
                self.stats.error(str(exc))
                continue
            child = prefix + name
            kind = doc.get("type")
            try:
                if choice is _ON_THE_WAY:  # a directory on the way to selected entries
                    documents_below = subtrees.get(subtree) if subtree is not None else None
                    self._plan_subdir(dir_fd, child, _node(doc), documents_below, selected=False)
                elif kind == NodeType.FILE:
                    plan = _FilePlan.of_document(name, doc)
                    self._plan_file(dir_fd, child, plan or _FilePlan.of_node(_node(doc)))
                elif kind == NodeType.DIR:
                    documents_below = subtrees.get(subtree) if subtree is not None else None
                    self._plan_subdir(dir_fd, child, _node(doc), documents_below)
                elif kind == NodeType.SYMLINK:
                    self._make_symlink(dir_fd, child, _node(doc))
                else:
                    self.stats.warnings.append(f"skipped {child}: {kind} is not restored")
            except OSError as exc:
                self.stats.error(f"cannot restore {child}: {exc.strerror or exc}")
            except DatamoverError as exc:
                self.stats.error(f"cannot restore {child}: {exc}")

    def _choose(self, prefix: str, documents: list[dict[str, Any]]) -> list[_Choice]:
        """For each entry, what the include or exclude patterns make of it."""
        assert self._selection is not None
        location = prefix[self._root_length :]
        choices = []
        for doc in documents:
            raw_name = doc.get("name")
            name = go_unquote(raw_name) if isinstance(raw_name, str) else ""
            selected, below = self._selection.select(
                location + name, doc.get("type") == NodeType.DIR
            )
            choices.append(_RESTORE if selected else _ON_THE_WAY if below else _SKIP)
        return choices

    def _removed_if_empty(self, path: str) -> bool:
        """restic creates a directory on the way to selected entries as it writes one of
        them; this one was created before knowing whether any would be."""
        try:
            os.rmdir(path)
        except OSError:
            self.stats.dirs += 1
            return False
        return True

    def _plan_subdir(
        self,
        dir_fd: int,
        path: str,
        node: Node,
        documents: list[dict[str, Any]] | None,
        *,
        selected: bool = True,
    ) -> None:
        """Create a directory and plan its entries. One not `selected` itself (only on the
        way to selected entries) and created here is removed at the end if none was
        restored in it."""
        name = node.name
        created = True
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            created = False
        try:
            fd = os.open(
                name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
            )
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeNameError(
                    f"refusing to restore through {path}: not a directory"
                ) from exc
            raise
        try:
            self._dirs.append((path, Metadata.of(node), selected or not created))
            self.stats.dirs += selected
            if documents is not None:
                self._plan_dir(fd, path, documents)
        finally:
            os.close(fd)

    def _plan_file(self, dir_fd: int, path: str, node: _FilePlan) -> None:
        """Plan a file's blobs; it is created by the first write (in parallel), or here
        when it has no content."""
        content = node.content
        state = _FileState(path, node.size, node.meta, len(content))
        self.stats.files_total += 1
        if node.links > 1 and node.inode:
            # restic records each hard link as a file node with the same inode; the first
            # is restored, the others are linked to it at the end.
            first, first_content = self._inodes.setdefault(
                (node.device_id, node.inode), (state, content)
            )
            if first is not state and first_content == content:
                self._links.append((first, state))
                return
        self.stats.bytes_total += node.size
        locate, needs = self.repo.index.locate, self._needs
        if len(content) == 1:  # most files: no list of placements
            location = locate(BlobType.DATA, content[0])
            if location is None:
                self._not_indexed(path, content[0])
                return
            pack_id, blob = location
            needs.setdefault(pack_id, {}).setdefault(blob, []).append(_Target(state, 0))
            self._latest_pack = pack_id
        else:
            placed: list[tuple[bytes, PackedBlob, _Target]] = []
            offset = 0
            for blob_id in content:
                location = locate(BlobType.DATA, blob_id)
                if location is None:
                    self._not_indexed(path, blob_id)
                    return
                pack_id, blob = location
                placed.append((pack_id, blob, _Target(state, offset)))
                offset += blob.plaintext_length
            for pack_id, blob, target in placed:
                needs.setdefault(pack_id, {}).setdefault(blob, []).append(target)
                self._latest_pack = pack_id
        self._planned_since_flush += 1
        if self._planned_since_flush >= _FLUSH_FILES:
            self._flush()
        if not content:  # created with its mode: only this descriptor may write to it
            fd = create_file(node.name, dir_fd, permissions=FileMetadata(*node.meta).permissions)
            try:
                state.created = True
                self._finish_file(state, fd)
            finally:
                os.close(fd)

    def _not_indexed(self, path: str, blob_id: bytes) -> None:
        self.stats.error(f"cannot restore {path}: blob {blob_id.hex()} is not indexed")

    def _make_hard_links(self) -> None:
        for first, link in self._links:
            if first.failed:
                self.stats.error(f"cannot restore {link.path}: its hard link {first.path} failed")
                continue
            try:
                with contextlib.suppress(FileNotFoundError):
                    existing = os.lstat(link.path)
                    if stat.S_ISDIR(existing.st_mode):
                        raise IsADirectoryError(errno.EISDIR, "is a directory")
                    os.unlink(link.path)  # a file or symlink in the way; never followed
                os.link(first.path, link.path, follow_symlinks=False)
            except OSError as exc:
                self.stats.error(f"cannot restore {link.path}: {exc.strerror or exc}")
                continue
            self.stats.counters.add("files")

    def _make_symlink(self, dir_fd: int, path: str, node: Node) -> None:
        try:
            os.symlink(node.linktarget, node.name, dir_fd=dir_fd)
        except FileExistsError:
            existing = os.stat(node.name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(existing.st_mode):
                raise
            os.unlink(node.name, dir_fd=dir_fd)
            os.symlink(node.linktarget, node.name, dir_fd=dir_fd)
        if self._owner:
            os.chown(node.name, node.uid, node.gid, dir_fd=dir_fd, follow_symlinks=False)
        times = (node.atime.unix_ns, node.mtime.unix_ns)
        os.utime(node.name, ns=times, dir_fd=dir_fd, follow_symlinks=False)
        self.stats.symlinks += 1

    # -- fetching: one range of a pack at a time per worker ---------------------------

    @contextmanager
    def _fetching(self) -> Iterator[None]:
        """Fetch what the plan needs while it goes on (see `_flush`); on leaving, wait for
        every fetch, then stop the threads and worker processes."""
        stop = threading.Event()
        reporter = threading.Thread(target=self._report_loop, args=(stop,), daemon=True)
        reporter.start()
        failed = False
        try:
            yield
            for fetch in self._fetches:
                fetch.result()
        except BaseException:
            failed = True
            raise
        finally:
            self._fetcher.shutdown(wait=True, cancel_futures=failed)
            if self._pool is not None:
                self._pool.close(kill=failed)
            stop.set()
            reporter.join()

    def _flush(self, *, last: bool = False) -> None:
        """Hand what was planned since the last flush to the fetch threads, one range of a
        pack each. Ranges, not packs, are the unit of work: a backup of small files fills a
        few packs with thousands of files each, and one thread per pack left most idle.

        Some packs wait for a later flush (unless this is the `last`), so that each is read
        once or twice, not once per flush:

        - the pack the latest file was found in: a backup stores files in the order of the
          tree, so the next files are likely in it too;
        - a pack fetched before: the pack an incremental backup wrote holds the changed
          files of the whole tree, a few of them needed by every flush (a restore of
          100,000 files after three incremental backups of 1% each made 183 requests for
          its 33 packs; 39 now). It waits for the last flush.

        (A blob needed again after its pack was fetched is fetched again.)"""
        needs, self._needs = self._needs, {}
        if not last:
            for pack_id in [self._latest_pack, *self._packs_fetched.intersection(needs)]:
                if pack_id in needs:
                    self._needs[pack_id] = needs.pop(pack_id)
        self._packs_fetched.update(needs)
        self._planned_since_flush = 0
        if not needs:
            return
        if self._pool is None and self._processes:
            self._one_blob_count += sum(_one_blob_files(needs))
        if self._pool is None and self._processes and self._one_blob_count > self._pool_after:
            self._pool = WorkerPool(
                WHOLE_FILE_WRITER,
                self._writer_settings,
                self._processes,
                self._shared_fd(),
                started=self._early_workers,
            )
        gc.freeze()  # what was planned lives until the end (see `long_lived_objects_left_alone`)
        for pack_id, blobs in needs.items():
            for run in _ranges(sorted(blobs, key=lambda b: b.offset), self._max_range):
                self._fetches.append(
                    self._fetcher.submit(self._fetch_run, (pack_id.hex(), run, blobs))
                )

    def _fetch_run(
        self, item: tuple[str, list[PackedBlob], dict[PackedBlob, list[_Target]]]
    ) -> None:
        """Read one range of a pack with one request, a piece at a time, each into a slot
        of the memory shared with the workers where one is free (and large enough); verify
        and write each of its blobs."""
        pack_hex, run, blobs = item
        pieces = list(_ranges(run, _PIECE_SIZE))  # (its gaps are short: none splits)
        ranges = [(piece[0].offset, _span_of(piece)) for piece in pieces]
        ahead = threading.BoundedSemaphore(_PIECES_AHEAD)
        written: list[threading.Event] = []
        slots = self._slots
        slot = -1  # the piece being read's

        def into(length: int) -> memoryview | None:
            return None if slots is None or slot < 0 else slots.view(slot, length)

        stream = self.repo.backend.load_ranges(FileType.DATA, pack_hex, ranges, into)
        try:
            for index, piece in enumerate(pieces):
                ahead.acquire()
                taken = self._budget.acquire(2 * ranges[index][1])
                slot = -1
                if slots is not None and ranges[index][1] <= slots.slot_size:
                    slot = slots.acquire()  # (-1 if none is free)

                def release(taken: int = taken, slot: int = slot) -> None:
                    if slot >= 0:
                        cast(SharedSlots, slots).release(slot)
                    self._budget.release(taken)
                    ahead.release()

                try:
                    data = next(stream)
                except DatamoverError as exc:
                    release()
                    self.repo.confirm_locks()  # a pack a racing gc removed is its lock's conflict
                    unread = [blob for later in pieces[index:] for blob in later]
                    self._fail_blobs(unread, blobs, str(exc))
                    break
                # Read while the lock's second look for a racing writer was under way (a
                # pause of 0.2 s, see `locks.acquire`): nothing is written before it has
                # passed.
                self.repo.confirm_locks()
                written.append(self._write_piece(pack_hex, piece, blobs, data, slot, release))
        finally:
            stream.close()
        for event in written:
            event.wait()

    def _write_piece(
        self,
        pack_hex: str,
        piece: list[PackedBlob],
        blobs: dict[PackedBlob, list[_Target]],
        data: bytes | memoryview,
        slot: int,
        release: Callable[[], None],
    ) -> threading.Event:
        """Verify and write the blobs of a piece (`data`, read from its first blob's
        offset; in the shared memory's `slot` unless that is -1). Blobs that each fill
        whole files go to a worker process (or are written here, the same way, without
        one); the others are written here. The event is set, and `release` called, once
        all are written."""
        start = piece[0].offset
        written = threading.Event()

        def finished() -> None:
            release()
            written.set()

        try:
            whole = [blob for blob in piece if all(t.file.single for t in blobs[blob])]
            if len(whole) < len(piece):
                taken = set(whole)
                others = [blob for blob in piece if blob not in taken]
                with self._writers:
                    self._write_run(pack_hex, others, blobs, memoryview(data), start)
            if not whole:
                finished()
                return written
            files = [(_plain(blob), self._whole_files(blobs[blob])) for blob in whole]
            bounds = _span_bounds(whole)
        except BaseException:
            finished()
            raise

        def done(answer: WriteAnswer | BaseException) -> None:
            try:
                self._whole_files_written(whole, blobs, answer)
            finally:
                finished()

        view = memoryview(data)
        if self._pool is not None:
            spans = self._sent_spans(bounds, view, start, slot)
            self._pool.submit((pack_hex, spans, files), done)
        else:
            request: WriteRequest = (
                pack_hex, [(a, view[a - start : b - start]) for a, b in bounds], files
            )  # fmt: skip
            with self._writers:
                self._write_whole_files_here(request, done)
        return written

    def _sent_spans(
        self, bounds: list[tuple[int, int]], view: memoryview, start: int, slot: int
    ) -> list[tuple[int, SharedBytes | pickle.PickleBuffer]]:
        """The `Span`s of a request as sent to a worker: where it finds them in the shared
        memory, or bytes sent beside the request (a `PickleBuffer` is not copied into its
        pickle). Either way it gets them as views."""
        if slot >= 0 and self._slots is not None:
            slots = self._slots
            return [(a, slots.shared(slot, a - start, b - a)) for a, b in bounds]
        return [(a, pickle.PickleBuffer(view[a - start : b - start])) for a, b in bounds]

    def _write_whole_files_here(
        self, request: WriteRequest, done: Callable[[WriteAnswer | BaseException], None]
    ) -> None:
        answer: WriteAnswer | BaseException
        try:
            answer = write_whole_files(request, self._writer_settings)
        except BaseException as exc:
            answer = exc
        done(answer)

    def _write_run(
        self,
        pack_hex: str,
        run: list[PackedBlob],
        blobs: dict[PackedBlob, list[_Target]],
        view: memoryview,
        start: int,
    ) -> None:
        for blob in run:
            sealed = view[blob.offset - start : blob.offset - start + blob.length]
            try:
                plain = decode_blob(self.repo.key, pack_hex, blob, sealed)
            except DatamoverError as exc:
                self._fail_blobs([blob], blobs, str(exc))
                continue
            for target in blobs[blob]:
                self._write(target, plain)

    @staticmethod
    def _whole_files(targets: list[_Target]) -> list[WholeFile]:
        return [(t.file.path, t.file.size, t.file.meta) for t in targets]

    def _whole_files_written(
        self,
        whole: list[PackedBlob],
        blobs: dict[PackedBlob, list[_Target]],
        answer: WriteAnswer | BaseException,
    ) -> None:
        """Account for what a worker wrote (and finished: metadata included). A file it
        wrote is only counted: one blob fills it, so nothing else looks at its state."""
        counters = self.stats.counters.mine()
        for index, blob in enumerate(whole):
            targets = blobs[blob]
            if isinstance(answer, BaseException):
                reasons: list[str | None] = [str(answer)] * len(targets)
            else:
                reasons = answer[index]
                if reasons.count(None) == len(targets):  # all written (most blobs)
                    counters["files"] += len(targets)
                    counters["bytes_written"] += blob.plaintext_length * len(targets)
                    continue
            for target, reason in zip(targets, reasons, strict=True):
                state = target.file
                with state.lock:
                    state.remaining = 0
                    state.created = True
                if reason is not None:
                    self._file_failed(state, reason)
                    continue
                counters["files"] += 1
                counters["bytes_written"] += blob.plaintext_length

    def _fail_blobs(
        self, run: list[PackedBlob], blobs: dict[PackedBlob, list[_Target]], reason: str
    ) -> None:
        for blob in run:
            for target in blobs[blob]:
                self._file_failed(target.file, reason)
                self._blob_done(target.file)

    def _write(self, target: _Target, data: bytes) -> None:
        state = target.file
        fd = -1
        try:
            if not state.failed:
                try:
                    zero = is_zero(data)
                    fd = self._open_for_write(state)
                    if not zero:
                        pwrite_all(fd, data, target.offset)
                    self.stats.counters.add("bytes_written", len(data))
                except OSError as exc:
                    self._file_failed(state, exc.strerror or str(exc))
                except UnsafeNameError as exc:
                    self._file_failed(state, str(exc))
            self._blob_done(state, fd)
        finally:
            if fd >= 0:
                os.close(fd)

    @staticmethod
    def _open_for_write(state: _FileState) -> int:
        """The first writer creates the file (sparse, at its full size); others open it."""
        with state.lock:
            if not state.created:
                fd = create_file(state.path)
                try:
                    os.ftruncate(fd, state.size)
                except BaseException:
                    os.close(fd)
                    raise
                state.created = True
                return fd
        return os.open(state.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def _file_failed(self, state: _FileState, reason: str) -> None:
        with state.lock:
            first = not state.failed
            state.failed = True
        if first:
            self.stats.error(f"cannot restore {state.path}: {reason}")

    def _blob_done(self, state: _FileState, fd: int = -1) -> None:
        with state.lock:
            state.remaining -= 1
            last = state.remaining == 0
        if last:
            self._finish_file(state, fd)

    # -- metadata ---------------------------------------------------------------------

    def _finish_file(self, state: _FileState, fd: int = -1) -> None:
        """Apply the file's metadata, through `fd` when the caller has it open."""
        if not state.failed:
            try:
                meta = FileMetadata(*state.meta).parsed()
                if fd >= 0:
                    self._apply_metadata(fd, meta)
                else:
                    fd = os.open(state.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    try:
                        self._apply_metadata(fd, meta)
                    finally:
                        os.close(fd)
            except OSError as exc:
                self.stats.error(f"cannot restore {state.path}: {exc.strerror or exc}")
                return
            except ValueError as exc:  # a time that is not one
                self.stats.error(f"cannot restore {state.path}: {exc}")
                return
        if not state.failed:
            self.stats.counters.add("files")

    def _apply_dir_metadata(self, path: str, meta: Metadata) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                self._apply_metadata(fd, meta)
            finally:
                os.close(fd)
        except OSError as exc:
            self.stats.error(f"cannot set metadata of {path}: {exc.strerror or exc}")

    def _apply_metadata(self, fd: int, meta: Metadata) -> None:
        times_ns = (meta.atime_ns, meta.mtime_ns)
        apply_metadata(fd, meta.permissions, meta.uid, meta.gid, times_ns, owner=self._owner)

    # -- progress ---------------------------------------------------------------------

    def _report_loop(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self._report()

    def _report(self) -> None:
        if self._progress is None:
            return
        done = self.stats.counters.total()
        progress = RestoreProgress(
            files_done=done["files"],
            files_total=self.stats.files_total,
            bytes_written=done["bytes_written"],
            bytes_total=self.stats.bytes_total,
            elapsed=time.monotonic() - self._started,
        )
        self._progress(progress)


def _span_bounds(whole: list[PackedBlob]) -> list[tuple[int, int]]:
    """The stretches of a pack (first offset, end) that hold these blobs, sorted by offset:
    a worker gets only what it writes, not the blobs of large files beside them (the 1 GiB
    benchmark sent its workers 323 MiB for 71 MiB of such blobs)."""
    bounds: list[list[int]] = []
    for blob in whole:
        if bounds and bounds[-1][1] == blob.offset:
            bounds[-1][1] += blob.length
        else:
            bounds.append([blob.offset, blob.offset + blob.length])
    if len(bounds) > _MAX_SPANS:
        bounds = [[bounds[0][0], bounds[-1][1]]]
    return [(first, end) for first, end in bounds]


def _plain(blob: PackedBlob) -> PlainPackedBlob:
    return (blob.type, blob.id, blob.offset, blob.length, blob.uncompressed_length)


def _one_blob_files(needs: dict[bytes, dict[PackedBlob, list[_Target]]]) -> Iterator[bool]:
    """For each needed file, whether one blob fills it (see `_FileState.single`)."""
    for blobs in needs.values():
        for targets in blobs.values():
            for target in targets:
                yield target.file.single


def _span_of(blobs: list[PackedBlob]) -> int:
    """Bytes from the first of these blobs (sorted by offset) to the end of the last."""
    return blobs[-1].offset + blobs[-1].length - blobs[0].offset


def _ranges(blobs: list[PackedBlob], max_range: int) -> Iterator[list[PackedBlob]]:
    """Group blobs sorted by offset into runs fetched by one request each."""
    run: list[PackedBlob] = []
    for blob in blobs:
        if run:
            end = run[-1].offset + run[-1].length
            if blob.offset - end > _GAP or blob.offset + blob.length - run[0].offset > max_range:
                yield run
                run = []
        run.append(blob)
    if run:
        yield run


def restore_snapshot(
    repo: Repository,
    snapshot_ref: str,
    target: str,
    options: RestoreOptions,
    *,
    progress: RestoreProgressCallback | None = None,
) -> RestoreResult:
    """Restore `snapshot_ref` (id, prefix or `latest`) into the directory `target`."""
    return Restorer(repo, options, progress=progress).run(snapshot_ref, target)
