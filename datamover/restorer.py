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
import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from datamover.backend.base import FileType
from datamover.blobs import BlobType, PackedBlob
from datamover.budget import ByteBudget, limit_allocator_arenas, plan_memory
from datamover.counters import ThreadCounters
from datamover.errors import DatamoverError, SnapshotNotFoundError
from datamover.jobs import RestoreOptions, RestoreProgress, RestoreProgressCallback, RestoreResult
from datamover.prefetch import Prefetch
from datamover.repository import Repository, decode_blob
from datamover.tree import Node, NodeType, Tree, posix_permissions

log = structlog.get_logger(__name__)

_GAP = 1024 * 1024
"""Blobs closer than this in a pack are fetched with one request (the gap is read too)."""
_MAX_RANGE = 8 * 1024 * 1024
_WRITERS = 2
"""Workers that verify and write at once; the others download meanwhile. Writing a small
file lets go of the GIL six times (open, write, chown, chmod, utime, close): sixteen
threads taking it back in turn spent more system time in futex calls than in the writes
(20,000 files: 4-8 s of system time, 2.4-4.2 s with two writers)."""


class UnsafeNameError(DatamoverError):
    """A name in the snapshot could make the restore write outside its target."""


def check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafeNameError(f"refusing unsafe name {name!r} in the snapshot")


@dataclass(frozen=True, slots=True)
class _Metadata:
    """What restore applies to a file or directory; kept instead of the whole node, so a
    plan of a million files stays small."""

    permissions: int
    uid: int
    gid: int
    atime_ns: int
    mtime_ns: int

    @classmethod
    def of(cls, node: Node) -> _Metadata:
        return cls(
            posix_permissions(node.mode),
            node.uid,
            node.gid,
            node.atime.unix_ns,
            node.mtime.unix_ns,
        )


class _FileState:
    """A file being filled; finished (metadata applied) when its last blob is written."""

    __slots__ = ("created", "failed", "lock", "meta", "path", "remaining", "size")

    def __init__(self, path: str, size: int, meta: _Metadata, remaining: int) -> None:
        self.path = path
        self.size = size
        self.meta = meta
        self.remaining = remaining
        self.failed = False
        self.created = False
        self.lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class _Target:
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
        self._dirs: list[tuple[str, _Metadata]] = []
        self._tree_pool = ThreadPoolExecutor(4, thread_name_prefix="restore-tree")
        self._inodes: dict[tuple[int, int], tuple[_FileState, list[bytes]]] = {}
        self._links: list[tuple[_FileState, _FileState]] = []
        plan = plan_memory(
            options.memory_limit_mib,
            pack_size=0,
            pack_buffers=0,
            max_chunk=_MAX_RANGE,
            workers=1,
        )
        self._budget = ByteBudget(plan.in_flight + plan.read_buffers)
        self._writers = threading.BoundedSemaphore(_WRITERS)
        self._started = time.monotonic()

    # -- the run ----------------------------------------------------------------------

    def run(self, snapshot_ref: str, target: str) -> RestoreResult:
        limit_allocator_arenas()
        snapshot_id, snapshot = self.repo.load_snapshot(snapshot_ref)
        tree, root_node = self._select(self.repo.load_tree(snapshot.tree))
        os.makedirs(target, exist_ok=True)
        root = os.path.realpath(target)
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._plan_dir(root_fd, root, tree)
        finally:
            os.close(root_fd)
            self._tree_pool.shutdown(wait=False, cancel_futures=True)
        self.repo.confirm_locks()
        self._fetch_all()
        self._make_hard_links()
        for path, meta in reversed(self._dirs):
            self._apply_dir_metadata(path, meta)
        if root_node is not None:
            self._apply_dir_metadata(root, _Metadata.of(root_node))
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

    def _select(self, tree: Tree) -> tuple[Tree, Node | None]:
        """The tree to restore: the snapshot's root, or the one at `options.include`."""
        include = (self.options.include or "").strip("/")
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

    def _plan_dir(self, dir_fd: int, path: str, tree: Tree) -> None:
        subtrees = Prefetch(
            self._tree_pool,
            self.repo.load_tree,
            [n.subtree for n in tree.nodes if n.type is NodeType.DIR and n.subtree is not None],
        )
        seen: set[str] = set()
        for node in tree.nodes:
            try:
                check_name(node.name)
                if node.name in seen:
                    raise UnsafeNameError(f"refusing duplicate name {node.name!r} in {path}")
                seen.add(node.name)
            except UnsafeNameError as exc:
                self.stats.error(str(exc))
                continue
            child = os.path.join(path, node.name)
            try:
                if node.type is NodeType.DIR:
                    subtree = subtrees.get(node.subtree) if node.subtree else None
                    self._plan_subdir(dir_fd, child, node, subtree)
                elif node.type is NodeType.FILE:
                    self._plan_file(dir_fd, child, node)
                elif node.type is NodeType.SYMLINK:
                    self._make_symlink(dir_fd, child, node)
                else:
                    self.stats.warnings.append(f"skipped {child}: {node.type} is not restored")
            except OSError as exc:
                self.stats.error(f"cannot restore {child}: {exc.strerror or exc}")
            except DatamoverError as exc:
                self.stats.error(f"cannot restore {child}: {exc}")

    def _plan_subdir(self, dir_fd: int, path: str, node: Node, subtree: Tree | None) -> None:
        name = node.name
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=dir_fd)
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
            self._dirs.append((path, _Metadata.of(node)))
            self.stats.dirs += 1
            if subtree is not None:
                self._plan_dir(fd, path, subtree)
        finally:
            os.close(fd)

    def _plan_file(self, dir_fd: int, path: str, node: Node) -> None:
        """Plan a file's blobs; it is created by the first write (in parallel), or here
        when it has no content."""
        content = node.content or []
        state = _FileState(path, node.size, _Metadata.of(node), len(content))
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
        placed: list[tuple[bytes, PackedBlob, _Target]] = []
        offset = 0
        for blob_id in content:
            locations = self.repo.index.lookup(BlobType.DATA, blob_id)
            if not locations:
                self.stats.error(f"cannot restore {path}: blob {blob_id.hex()} is not indexed")
                return
            pack_id, blob = locations[0]
            placed.append((pack_id, blob, _Target(state, offset)))
            offset += blob.plaintext_length
        for pack_id, blob, target in placed:
            self._needs.setdefault(pack_id, {}).setdefault(blob, []).append(target)
        if not content:
            os.close(_create_file(node.name, dir_fd))
            state.created = True
            self._finish_file(state)

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

    def _fetch_all(self) -> None:
        stop = threading.Event()
        reporter = threading.Thread(target=self._report_loop, args=(stop,), daemon=True)
        reporter.start()
        try:
            needs, self._needs = self._needs, {}
            # Ranges, not packs, are the unit of work: a backup of small files fills a few
            # packs with thousands of files each, and one worker per pack left most idle.
            runs = [
                (pack_id.hex(), run, blobs)
                for pack_id, blobs in needs.items()
                for run in _ranges(sorted(blobs, key=lambda b: b.offset))
            ]
            with ThreadPoolExecutor(self.options.files, thread_name_prefix="restore") as pool:
                for _ in pool.map(self._fetch_run, runs):
                    pass
        finally:
            stop.set()
            reporter.join()

    def _fetch_run(
        self, item: tuple[str, list[PackedBlob], dict[PackedBlob, list[_Target]]]
    ) -> None:
        """Read one range of a pack; verify and write each of its blobs."""
        pack_hex, run, blobs = item
        start = run[0].offset
        length = run[-1].offset + run[-1].length - start
        with self._budget.reserve(2 * length):
            try:
                data = self.repo.backend.load(FileType.DATA, pack_hex, start, length)
            except DatamoverError as exc:
                self._fail_blobs(run, blobs, str(exc))
                return
            view = memoryview(data)
            with self._writers:
                self._write_run(pack_hex, run, blobs, view, start)

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
                    zero = _is_zero(data)
                    # A file written whole by this blob needs no truncate to its size first.
                    whole = not zero and target.offset == 0 and len(data) == state.size
                    fd = self._open_for_write(state, sized=not whole)
                    if not zero:
                        _pwrite_all(fd, data, target.offset)
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
    def _open_for_write(state: _FileState, *, sized: bool = True) -> int:
        """The first writer creates the file (`sized`: sparse, at its full size); others
        open it."""
        with state.lock:
            if not state.created:
                fd = _create_file(state.path)
                try:
                    if sized:
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
                if fd >= 0:
                    self._apply_metadata(fd, state.meta)
                else:
                    fd = os.open(state.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                    try:
                        self._apply_metadata(fd, state.meta)
                    finally:
                        os.close(fd)
            except OSError as exc:
                self.stats.error(f"cannot restore {state.path}: {exc.strerror or exc}")
                return
        if not state.failed:
            self.stats.counters.add("files")

    def _apply_dir_metadata(self, path: str, meta: _Metadata) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                self._apply_metadata(fd, meta)
            finally:
                os.close(fd)
        except OSError as exc:
            self.stats.error(f"cannot set metadata of {path}: {exc.strerror or exc}")

    def _apply_metadata(self, fd: int, meta: _Metadata) -> None:
        if self._owner:
            os.fchown(fd, meta.uid, meta.gid)
        os.fchmod(fd, meta.permissions)
        os.utime(fd, ns=(meta.atime_ns, meta.mtime_ns))

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


def _create_file(name: str, dir_fd: int | None = None) -> int:
    """Create (or truncate) a file; a symlink in its place is refused, never followed.

    Directories on the way were created by the plan and opened with O_NOFOLLOW, and no name
    appears twice in a directory, so only the last component needs the check."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeNameError(f"refusing to write through the symlink {name!r}") from exc
        raise


def _is_zero(data: bytes) -> bool:
    """All-zero blobs are left as holes: the file was created sparse at its full size."""
    return data[:1] == b"\0" and data[-1:] == b"\0" and data == bytes(len(data))


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def _ranges(blobs: list[PackedBlob]) -> Iterator[list[PackedBlob]]:
    """Group blobs sorted by offset into runs fetched by one request each."""
    run: list[PackedBlob] = []
    for blob in blobs:
        if run:
            end = run[-1].offset + run[-1].length
            if blob.offset - end > _GAP or blob.offset + blob.length - run[0].offset > _MAX_RANGE:
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
