"""Restores: of restic's own repositories, of damaged ones and of hostile ones."""

from __future__ import annotations

import itertools
import json
import os
import pickle
import random
import stat
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from datamover import budget, locks, restorer
from datamover.api import backup, restore
from datamover.backend.base import FileType
from datamover.backend.local import LocalBackend
from datamover.blobs import BlobType, PackedBlob
from datamover.check import check
from datamover.chunker import ChunkerParams
from datamover.errors import BackendError, RepositoryLockedError, SnapshotNotFoundError
from datamover.gotime import GoTime
from datamover.ids import hash_bytes
from datamover.index import MasterIndex
from datamover.jobs import BackupOptions, RestoreOptions, RestoreResult
from datamover.kdf import ScryptParams
from datamover.locks import LockInfo
from datamover.modes import GO_MODE_DIR, GO_MODE_SYMLINK, NodeType
from datamover.repository import Repository
from datamover.restorer import _MAX_SPANS, Restorer, UnsafeNameError, _span_bounds, check_name
from datamover.sharedmemory import SharedBytes, SharedSlots
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree
from datamover.unpacked import save_unpacked
from datamover.workerpool import StartedWorkers, WorkerPool

PASSWORD = "correct horse battery staple"  # the conftest's repository password
SMALL_CHUNKS = ChunkerParams(min_size=16 * 1024, avg_size=64 * 1024, max_size=256 * 1024)


def _tree_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _random_files(source: Path, count: int, sizes: tuple[int, int], seed: int) -> Path:
    """`source` with `count` files of random bytes, of sizes in `sizes` (low, high)."""
    source.mkdir()
    rng = random.Random(seed)
    for i in range(count):
        (source / f"f{i:03d}").write_bytes(rng.randbytes(rng.randrange(*sizes)))
    return source


def test_restores_a_repository_written_by_restic(
    tmp_path: Path, restic: object, password_file: Path
) -> None:
    source = tmp_path / "source"
    (source / "sub" / "dir").mkdir(parents=True)
    rng = random.Random(1)
    (source / "sub" / "dir" / "big").write_bytes(rng.randbytes(3_000_000))
    (source / "small ü").write_text("small\n")
    os.symlink("sub/dir/big", source / "link")
    restic_repo = tmp_path / "restic-repo"
    restic(restic_repo, "init", "--repository-version", "2")  # type: ignore[operator]
    restic(restic_repo, "backup", "--compression", "auto", str(source))  # type: ignore[operator]

    repo = Repository.open(LocalBackend(restic_repo), PASSWORD)
    try:
        snapshots = repo.list_snapshots()
        assert [s.paths for _, s in snapshots] == [[str(source)]]
        target = tmp_path / "target"
        result = restore(repo, "latest", str(target), RestoreOptions(path=str(source)))
    finally:
        repo.close()
    assert result.ok, result.errors
    assert _tree_files(target) == _tree_files(source)
    assert os.readlink(target / "link") == "sub/dir/big"


def test_corrupted_pack_is_named_and_other_files_restore(
    tmp_path: Path, repo: Repository, repo_dir: Path, restic: object
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(2)
    for name in ("a", "b", "c"):
        (source / name).write_bytes(rng.randbytes(400_000))  # one pack each (256 KiB packs)
    result = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    _, snapshot = repo.load_snapshot(result.snapshot_id)
    nodes = {n.name: n for n in repo.load_tree(snapshot.tree).nodes}
    blob = nodes["b"].content[0]  # type: ignore[index]
    pack_id, located = repo.index.lookup(BlobType.DATA, blob)[0]
    pack_path = repo_dir / "data" / pack_id.hex()[:2] / pack_id.hex()
    data = bytearray(pack_path.read_bytes())
    data[located.offset + 100] ^= 0x01
    pack_path.chmod(0o644)
    pack_path.write_bytes(bytes(data))

    checked = check(repo, read_data=True)
    assert not checked.ok
    assert pack_id.hex() in checked.broken_packs
    by_restic = restic(repo_dir, "check", "--read-data", check=False)  # type: ignore[operator]
    assert by_restic.returncode != 0

    target = tmp_path / "target"
    restored = restore(repo, result.snapshot_id, str(target))
    assert not restored.ok
    assert len(restored.errors) == 1
    assert "/b" in restored.errors[0] and pack_id.hex() in restored.errors[0]
    assert (target / "a").read_bytes() == (source / "a").read_bytes()
    assert (target / "c").read_bytes() == (source / "c").read_bytes()


def _file(repo: Repository, name: str, data: bytes) -> Node:
    blob_id, _ = repo.save_blob(BlobType.DATA, data)
    return Node(name=name, type=NodeType.FILE, mode=0o644, size=len(data), content=[blob_id])


def _dir(repo: Repository, name: str, *children: Node) -> Node:
    subtree = repo.save_tree(Tree(nodes=list(children)))
    return Node(name=name, type=NodeType.DIR, mode=GO_MODE_DIR | 0o755, subtree=subtree)


def _symlink(name: str, target: str) -> Node:
    return Node(name=name, type=NodeType.SYMLINK, mode=GO_MODE_SYMLINK | 0o777, linktarget=target)


def _snapshot(repo: Repository, *nodes: Node) -> str:
    tree = repo.save_tree(Tree(nodes=list(nodes)))
    return repo.save_snapshot(Snapshot(time=GoTime.now(), tree=tree, paths=["/hostile"]))


def test_hostile_snapshot_cannot_write_outside_the_target(tmp_path: Path, repo: Repository) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    target = tmp_path / "work" / "target"
    evil = b"evil"
    snapshot_id = _snapshot(
        repo,
        _file(repo, "../escape", evil),
        _file(repo, "/absolute", evil),
        _file(repo, "a/b", evil),
        _file(repo, "nul\0name", evil),
        _dir(repo, "..", _file(repo, "escape-dir", evil)),
        _dir(repo, ".", _file(repo, "dot", evil)),
        _symlink("out", str(outside)),
        _dir(repo, "out", _file(repo, "victim", evil)),  # a duplicate name
        _symlink("victim-link", str(outside / "victim")),
        _file(repo, "fine", b"fine"),
    )
    result = restore(repo, snapshot_id, str(target))
    assert not result.ok
    assert len(result.errors) == 7
    assert (outside / "victim").read_bytes() == b"precious"
    assert sorted(os.listdir(outside)) == ["victim"]
    assert sorted(os.listdir(tmp_path / "work")) == ["target"]
    assert (target / "fine").read_bytes() == b"fine"

    # A second snapshot into the same target: the symlinks from the first are not followed.
    second = _snapshot(
        repo,
        _dir(repo, "out", _file(repo, "victim", evil)),
        _file(repo, "victim-link", evil),
    )
    result = restore(repo, second, str(target))
    assert len(result.errors) == 2
    assert (outside / "victim").read_bytes() == b"precious"
    assert os.readlink(target / "victim-link") == str(outside / "victim")


def test_target_may_be_a_symlink_to_a_directory(tmp_path: Path, repo: Repository) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "volume")
    snapshot_id = _snapshot(repo, _dir(repo, "d", _file(repo, "f", b"data")))
    result = restore(repo, snapshot_id, str(tmp_path / "volume"))
    assert result.ok
    assert (real / "d" / "f").read_bytes() == b"data"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/", "x\0y"])
def test_check_name_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(UnsafeNameError, match="refusing"):
        check_name(name)


@pytest.mark.parametrize("processes", [0, 2])
def test_one_blob_files_restore_alike_in_worker_processes_and_threads(
    tmp_path: Path, repo: Repository, repo_dir: Path, processes: int
) -> None:
    """Files filled by one blob are verified and written by worker processes (or, with
    `processes=0`, by the download threads): content, zero holes, modes and times are the
    same either way, and a corrupted blob fails its file only, naming it and its pack."""
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(processes)
    for i in range(40):
        path = source / f"f{i:02d}"
        path.write_bytes(rng.randbytes(rng.randrange(1, 8000)))
        path.chmod(0o600 + i % 8)
        os.utime(path, ns=(1_600_000_000_000_000_000 + i, 1_700_000_000_123_456_789 + i))
    (source / "zeros").write_bytes(bytes(5000))
    (source / "victim").write_bytes(rng.randbytes(3000))
    result = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    _, snapshot = repo.load_snapshot(result.snapshot_id)
    nodes = {node.name: node for node in repo.load_tree(snapshot.tree).nodes}
    victim = nodes["victim"]
    pack_id, located = repo.index.lookup(BlobType.DATA, victim.content[0])[0]  # type: ignore[index]
    pack_path = repo_dir / "data" / pack_id.hex()[:2] / pack_id.hex()
    data = bytearray(pack_path.read_bytes())
    data[located.offset + 20] ^= 0x01
    pack_path.chmod(0o644)
    pack_path.write_bytes(bytes(data))

    target = tmp_path / "target"
    restored = restore(repo, result.snapshot_id, str(target), RestoreOptions(processes=processes))

    assert len(restored.errors) == 1
    assert "/victim" in restored.errors[0] and pack_id.hex() in restored.errors[0]
    assert restored.files == 41
    for path in sorted(source.iterdir()):
        if path.name == "victim":
            continue
        copy = target / path.name
        got, node = copy.stat(), nodes[path.name]  # (before reading it moves its atime)
        assert (got.st_mode, got.st_mtime_ns, got.st_atime_ns) == (
            path.stat().st_mode, node.mtime.unix_ns, node.atime.unix_ns
        )  # fmt: skip
        assert copy.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("processes", [0, 2])
def test_a_file_whose_time_is_not_one_fails_alone(
    tmp_path: Path, repo: Repository, processes: int
) -> None:
    """Times are parsed where they are applied (a worker process, for one-blob files): one
    that is not an RFC 3339 time fails its own file, named, before it is written."""
    good = _file(repo, "good", b"fine").to_json_dict()
    bad = {**_file(repo, "bad", b"evil").to_json_dict(), "mtime": "yesterday"}
    empty = {**Node(name="empty", type=NodeType.FILE, mode=0o644).to_json_dict()}
    empty["atime"] = "2026-13-45T99:00:00Z"
    tree_json = json.dumps({"nodes": [bad, empty, good]}).encode() + b"\n"
    subtree, _ = repo.save_blob(BlobType.TREE, tree_json)
    below = Node(name="d", type=NodeType.DIR, mode=GO_MODE_DIR | 0o755, subtree=subtree)
    snapshot_id = _snapshot(repo, below)

    target = tmp_path / "target"
    result = restore(repo, snapshot_id, str(target), RestoreOptions(processes=processes))

    assert sorted(error.split(":")[0] for error in result.errors) == [
        f"cannot restore {target}/d/bad",
        f"cannot restore {target}/d/empty",
    ]
    assert "yesterday" in " ".join(result.errors)
    assert not (target / "d" / "bad").exists()
    assert (target / "d" / "good").read_bytes() == b"fine"


@pytest.mark.parametrize("processes", [0, 2])
def test_a_restore_meeting_a_racing_exclusive_lock_writes_no_content(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """The restore reads packs while its lock's second look (`locks.acquire`) is under way,
    but writes nothing into a file before that look has passed: an exclusive lock taken at
    the same moment (a gc's) stops it with the lock named, and no file has content."""
    source = _random_files(tmp_path / "source", 30, (1, 300_000), seed=3)
    snapshot_id = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS)).snapshot_id

    monkeypatch.setattr(locks, "WAIT_BEFORE_CHECK_S", 0.5)
    check_later = locks.Lock.check_later

    def a_gc_locks_meanwhile(lock: locks.Lock) -> None:
        gc = LockInfo(time=GoTime.now(), exclusive=True, hostname="gc-host", pid=1)
        save_unpacked(repo.backend, repo.key, FileType.LOCKS, gc.to_json())
        check_later(lock)

    monkeypatch.setattr(locks.Lock, "check_later", a_gc_locks_meanwhile)
    target = tmp_path / "target"
    with pytest.raises(RepositoryLockedError, match=r"already locked.*gc-host"):
        restore(repo, snapshot_id, str(target), RestoreOptions(processes=processes))
    assert not [p for p in target.rglob("*") if p.is_file() and p.stat().st_size]


def test_a_pack_is_read_in_one_request_unless_a_gap_of_megabytes_splits_it(
    tmp_path: Path, repo_dir: Path, fast_kdf: ScryptParams
) -> None:
    """Requests have a cost of their own (SeaweedFS: ~4.5 ms of CPU for any range up to
    4 MiB): a default pack of 16 MiB is read in one, and only a gap of more than 4 MiB
    between needed blobs is worth a second."""
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(7)
    for name in ("a", "b", "c"):
        (source / name).write_bytes(rng.randbytes(6 * 1024 * 1024))
    repo = Repository.init(LocalBackend(repo_dir), PASSWORD, kdf_params=fast_kdf)
    try:
        snapshot_id = backup(repo, str(source), BackupOptions(files=1)).snapshot_id
        _, snapshot = repo.load_snapshot(snapshot_id)
        packs_of: dict[str, set[str]] = {
            node.name: {repo.index.lookup(BlobType.DATA, blob)[0][0].hex() for blob in content}
            for node in repo.load_tree(snapshot.tree).nodes
            if (content := node.content)
        }
        requests: list[str] = []
        load_ranges = repo.backend.load_ranges

        def counted(
            file_type: FileType, name: str, ranges: Sequence[tuple[int, int]], into: Any = None
        ) -> Generator[bytes | memoryview, None, None]:
            requests.append(name)
            return load_ranges(file_type, name, ranges, into)

        repo.backend.load_ranges = counted  # type: ignore[method-assign]
        whole = restore(repo, snapshot_id, str(tmp_path / "whole"), RestoreOptions())
        whole_requests = list(requests)
        requests.clear()
        ends = restore(repo, snapshot_id, str(tmp_path / "ends"), RestoreOptions(exclude=["b"]))
    finally:
        repo.close()

    assert whole.ok and ends.ok
    (shared,) = packs_of["a"] & packs_of["b"] & packs_of["c"]  # 16 MiB and more
    data_packs = set().union(*packs_of.values())
    assert sorted(r for r in whole_requests if r in data_packs) == sorted(data_packs)
    assert requests.count(shared) == 2  # /a, then /c past /b
    assert _tree_files(tmp_path / "ends") == {
        "a": (source / "a").read_bytes(),
        "c": (source / "c").read_bytes(),
    }


@pytest.mark.parametrize("processes", [0, 2])
def test_a_range_is_read_with_one_request_a_piece_at_a_time(
    tmp_path: Path, repo_dir: Path, fast_kdf: ScryptParams, monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:  # fmt: skip
    """A range of a pack is one request, but a download thread holds a piece of it at a
    time (and a worker gets that piece): here pieces of 64 KiB of a 2 MiB pack."""
    monkeypatch.setattr(restorer, "_PIECE_SIZE", 64 * 1024)
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(5)
    for i in range(300):
        (source / f"f{i:03d}").write_bytes(rng.randbytes(rng.randrange(1000, 12_000)))
    (source / "large").write_bytes(rng.randbytes(300_000))  # blobs larger than a piece
    repo = Repository.init(
        LocalBackend(repo_dir), PASSWORD, pack_size=4 * 1024 * 1024, kdf_params=fast_kdf
    )
    reads: list[tuple[str, list[tuple[int, int]], list[int]]] = []
    load_ranges = repo.backend.load_ranges

    def recorded(
        file_type: FileType, name: str, ranges: Sequence[tuple[int, int]], into: Any = None
    ) -> Generator[bytes | memoryview, None, None]:
        lengths: list[int] = []
        reads.append((name, list(ranges), lengths))
        for data in load_ranges(file_type, name, ranges, into):
            lengths.append(len(data))
            yield data

    try:
        chunks = ChunkerParams(min_size=64 * 1024, avg_size=128 * 1024, max_size=256 * 1024)
        snapshot_id = backup(repo, str(source), BackupOptions(chunker=chunks)).snapshot_id
        monkeypatch.setattr(repo.backend, "load_ranges", recorded)
        result = restore(
            repo, snapshot_id, str(tmp_path / "target"), RestoreOptions(processes=processes)
        )
    finally:
        repo.close()

    assert result.ok and result.files == 301
    assert _tree_files(tmp_path / "target") == _tree_files(source)
    (pack,) = {name for name, _, _ in reads}
    assert len(reads) == 1  # the pack's blobs lie together: one request
    _, ranges, lengths = reads[0]
    assert len(ranges) > 30 and lengths == [length for _, length in ranges]
    for (offset, length), (next_offset, _) in itertools.pairwise(ranges):
        assert offset + length <= next_offset  # ascending, apart
    blob_sizes = {blob.length for blob in repo.index.packs()[bytes.fromhex(pack)]}
    assert all(length <= 64 * 1024 or length in blob_sizes for _, length in ranges)


def test_a_read_failing_midway_fails_the_files_of_the_pieces_left(
    tmp_path: Path, repo_dir: Path, fast_kdf: ScryptParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost in the middle of a range: the files of the pieces already read are
    restored, each file of the others fails naming the error, and the restore ends."""
    monkeypatch.setattr(restorer, "_PIECE_SIZE", 16 * 1024)
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(6)
    for i in range(60):
        (source / f"f{i:02d}").write_bytes(rng.randbytes(4000))
    repo = Repository.init(
        LocalBackend(repo_dir), PASSWORD, pack_size=4 * 1024 * 1024, kdf_params=fast_kdf
    )
    load_ranges = repo.backend.load_ranges

    def cut_off(
        file_type: FileType, name: str, ranges: Sequence[tuple[int, int]], into: Any = None
    ) -> Generator[bytes | memoryview, None, None]:
        pieces = load_ranges(file_type, name, ranges, into)
        yield next(pieces)
        yield next(pieces)
        raise BackendError("connection lost")

    try:
        snapshot_id = backup(repo, str(source), BackupOptions(files=1)).snapshot_id
        monkeypatch.setattr(repo.backend, "load_ranges", cut_off)
        result = restore(repo, snapshot_id, str(tmp_path / "target"), RestoreOptions())
    finally:
        repo.close()

    restored = _tree_files(tmp_path / "target")
    assert 0 < len(restored) < 60 and result.files == len(restored)
    assert len(result.errors) == 60 - len(restored)
    assert all("connection lost" in error for error in result.errors)
    for name, data in restored.items():
        assert data == (source / name).read_bytes()


def test_a_pack_whose_files_span_several_hand_offs_is_read_once(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan is handed to the download threads every few thousand files; the pack the
    latest file is in waits for the next hand-off, where its next files are likely to be."""
    source = tmp_path / "source"
    source.mkdir()
    for i in range(30):
        (source / f"f{i:02d}").write_bytes(random.Random(i).randbytes(2000))
    snapshot_id = backup(repo, str(source), BackupOptions(files=1)).snapshot_id
    (pack,) = {repo.index.lookup(BlobType.DATA, hash_bytes(p.read_bytes()))[0][0].hex()
               for p in source.iterdir()}  # fmt: skip
    result, requests = _restore_in_small_hand_offs(repo, snapshot_id, tmp_path, monkeypatch)

    assert result.ok and result.files == 30
    assert requests.count(pack) == 1
    assert _tree_files(tmp_path / "target") == _tree_files(source)


def test_the_pack_of_an_incremental_backup_is_read_at_most_twice(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pack an incremental backup wrote holds changed files from all over the tree, a
    few of them in every hand-off of the plan: once fetched, it waits for the last
    hand-off instead of being read again by each (here 8 times)."""
    source = tmp_path / "source"
    for d in range(8):
        (source / f"d{d}").mkdir(parents=True)
        for i in range(10):
            (source / f"d{d}" / f"f{i}").write_bytes(random.Random(10 * d + i).randbytes(2000))
    first = backup(repo, str(source), BackupOptions(files=1)).snapshot_id
    changed = [source / f"d{d}" / "f5" for d in range(8)]
    for path in changed:
        path.write_bytes(random.Random(str(path)).randbytes(2000))
    second = backup(repo, str(source), BackupOptions(files=1, parent=first)).snapshot_id

    def pack_of(path: Path) -> str:
        return repo.index.lookup(BlobType.DATA, hash_bytes(path.read_bytes()))[0][0].hex()

    (incremental_pack,) = {pack_of(path) for path in changed}
    (full_pack,) = {pack_of(path) for path in source.rglob("f[!5]")}
    result, requests = _restore_in_small_hand_offs(repo, second, tmp_path, monkeypatch)

    assert result.ok and result.files == 80
    assert requests.count(incremental_pack) <= 2
    assert requests.count(full_pack) <= 2
    assert _tree_files(tmp_path / "target") == _tree_files(source)


def _restore_in_small_hand_offs(
    repo: Repository, snapshot_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[RestoreResult, list[str]]:
    """Restore into ``tmp_path / "target"``, the plan handed off every 4 files; the result,
    and the name of the file each request read."""
    requests: list[str] = []
    load_ranges = repo.backend.load_ranges

    def counted(
        file_type: FileType, name: str, ranges: Sequence[tuple[int, int]], into: Any = None
    ) -> Generator[bytes | memoryview, None, None]:
        requests.append(name)
        return load_ranges(file_type, name, ranges, into)

    monkeypatch.setattr(repo.backend, "load_ranges", counted)
    monkeypatch.setattr(restorer, "_FLUSH_FILES", 4)
    return restore(repo, snapshot_id, str(tmp_path / "target"), RestoreOptions()), requests


def test_a_worker_gets_the_runs_of_its_blobs_not_the_range_around_them() -> None:
    def blob(offset: int, length: int) -> PackedBlob:
        return PackedBlob(BlobType.DATA, offset.to_bytes(32, "big"), offset, length, 0)

    assert _span_bounds([blob(100, 10), blob(110, 5), blob(300, 20)]) == [(100, 115), (300, 320)]
    scattered = [blob(2 * i, 1) for i in range(_MAX_SPANS + 1)]
    assert _span_bounds(scattered) == [(0, 2 * _MAX_SPANS + 1)]


@pytest.mark.parametrize(
    ("limit_mib", "processes", "max_range"),
    [(1024, None, 24 << 20), (512, None, 8 << 20), (512, 2, 8 << 20)],
)
def test_ranges_span_a_whole_pack_unless_that_costs_a_worker(
    repo: Repository,
    monkeypatch: pytest.MonkeyPatch,
    limit_mib: int,
    processes: int | None,
    max_range: int,
) -> None:
    """Two workers on two CPUs, asked for or not: 512 MiB has room for them with ranges of
    8 MiB, not of 24."""
    monkeypatch.setattr(budget, "usable_cpus", lambda: 2)
    options = RestoreOptions(memory_limit_mib=limit_mib, processes=processes)
    restorer = Restorer(repo, options)
    restorer._fetcher.shutdown()
    restorer._tree_pool.shutdown()
    restorer._close_workers()

    assert (restorer._max_range, restorer._processes) == (max_range, 2)


def test_a_read_only_file_is_written_and_finished_through_the_descriptor_that_created_it(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One-blob and empty files are created with their final mode: opening one again to
    write or to set its metadata would be refused to anyone but root when that mode is
    0444, so each is opened exactly once."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "data").write_bytes(b"read only")
    (source / "empty").write_bytes(b"")
    for path in source.iterdir():
        path.chmod(0o444)
    snapshot_id = backup(repo, str(source), BackupOptions()).snapshot_id
    opened: list[str] = []
    real_open = os.open

    def open_(path: str, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.path.basename(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    target = tmp_path / "target"
    result = restore(repo, snapshot_id, str(target), RestoreOptions(processes=0))

    assert result.ok, result.errors
    assert (opened.count("data"), opened.count("empty")) == (1, 1)
    for name, content in (("data", b"read only"), ("empty", b"")):
        assert (target / name).read_bytes() == content
        assert stat.S_IMODE((target / name).stat().st_mode) == 0o444


@pytest.mark.parametrize("shared", [True, False], ids=["shared memory", "pipes"])
def test_workers_get_their_pieces_through_shared_memory_or_their_pipes(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    """A piece is read into memory shared with the workers, and a request says where its
    blobs are there; without such memory (no `memfd_create`, or no slot free) the piece is
    read as bytes, which go through the worker's pipe. The files are the same either way."""
    if not shared:
        monkeypatch.setattr(SharedSlots, "create", classmethod(lambda cls, size, count: None))
    read: list[type] = []
    sent: list[type] = []
    load_ranges, submit = repo.backend.load_ranges, WorkerPool.submit

    def loaded(
        file_type: FileType, name: str, ranges: Sequence[tuple[int, int]], into: Any = None
    ) -> Generator[bytes | memoryview, None, None]:
        for data in load_ranges(file_type, name, ranges, into):
            read.append(type(data))
            yield data

    def submitted(pool: WorkerPool, request: Any, callback: Any) -> None:
        sent.extend(type(data) for _, data in request[1])
        submit(pool, request, callback)

    monkeypatch.setattr(repo.backend, "load_ranges", loaded)
    monkeypatch.setattr(WorkerPool, "submit", submitted)
    source = _random_files(tmp_path / "source", 200, (1, 6000), seed=7)
    snapshot_id = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS)).snapshot_id

    result = restore(repo, snapshot_id, str(tmp_path / "target"), RestoreOptions(processes=2))

    assert result.ok and result.files == 200
    assert _tree_files(tmp_path / "target") == _tree_files(source)
    assert read and set(read) == ({memoryview} if shared else {bytes})
    assert sent and set(sent) == ({SharedBytes} if shared else {pickle.PickleBuffer})


def _slow_index_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    load = MasterIndex.load

    def slow(index: MasterIndex, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.5)
        load(index, *args, **kwargs)

    monkeypatch.setattr(MasterIndex, "load", slow)


def test_workers_start_while_the_index_is_read_and_then_serve_the_restore(
    tmp_path: Path, repo: Repository, repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restore whose index is still being read starts its workers meanwhile (a core is
    idle then); the pool takes them once the first files are planned."""
    source = tmp_path / "source"
    source.mkdir()
    for i in range(50):
        (source / f"f{i:02d}").write_bytes(os.urandom(100 + i))
    snapshot_id = backup(repo, str(source), BackupOptions()).snapshot_id
    _slow_index_reads(monkeypatch)
    later = Repository.open(LocalBackend(repo_dir), PASSWORD, index_later=True)
    started: list[tuple[list[int], bool]] = []
    pooled: list[int] = []
    start, pool = StartedWorkers.__init__, WorkerPool.__init__

    def started_now(workers: StartedWorkers, *args: Any, **kwargs: Any) -> None:
        start(workers, *args, **kwargs)
        started.append(([w._process.pid for w in workers._workers], later.index_pending))

    def pool_made(made: WorkerPool, *args: Any, **kwargs: Any) -> None:
        pool(made, *args, **kwargs)
        pooled.extend(w._process.pid for w in made._workers)

    monkeypatch.setattr(StartedWorkers, "__init__", started_now)
    monkeypatch.setattr(WorkerPool, "__init__", pool_made)
    try:
        result = restore(later, snapshot_id, str(tmp_path / "target"), RestoreOptions(processes=2))
    finally:
        later.close()

    assert result.ok and result.files == 50
    assert _tree_files(tmp_path / "target") == _tree_files(source)
    ((pids, index_pending),) = started
    assert index_pending and len(pids) == 2 and pooled == pids


def test_a_restore_that_fails_stops_the_workers_it_started(
    tmp_path: Path, repo: Repository, repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow_index_reads(monkeypatch)
    later = Repository.open(LocalBackend(repo_dir), PASSWORD, index_later=True)
    made: list[StartedWorkers] = []
    start = StartedWorkers.__init__

    def recorded(workers: StartedWorkers, *args: Any, **kwargs: Any) -> None:
        start(workers, *args, **kwargs)
        made.append(workers)

    monkeypatch.setattr(StartedWorkers, "__init__", recorded)
    try:
        one_run = Restorer(later, RestoreOptions(processes=2))
        processes = [worker._process for worker in made[0]._workers]
        with pytest.raises(SnapshotNotFoundError):
            one_run.run("deadbeef", str(tmp_path / "target"))
    finally:
        later.close()

    assert len(processes) == 2
    assert all(process.wait(timeout=10) is not None for process in processes)


def test_workers_give_each_file_its_mode_new_already_there_or_set_id(
    tmp_path: Path, repo: Repository
) -> None:
    """A worker's umask is 0, so a file it creates new has the mode it was created with,
    and is not looked at again; a file already there, or a mode with set-id bits, is
    given its mode."""
    source = tmp_path / "source"
    source.mkdir()
    modes = {"group-writable": 0o664, "everyone": 0o777, "set-uid": 0o4755, "plain": 0o640}
    for name, mode in modes.items():
        (source / name).write_bytes(name.encode())
        (source / name).chmod(mode)
    snapshot_id = backup(repo, str(source), BackupOptions()).snapshot_id
    target = tmp_path / "target"
    options = RestoreOptions(processes=2, owner=False)

    first = restore(repo, snapshot_id, str(target), options)
    got = {name: stat.S_IMODE((target / name).stat().st_mode) for name in modes}
    (target / "everyone").chmod(0o600)
    (target / "plain").chmod(0o600)
    second = restore(repo, snapshot_id, str(target), options)  # over the files of the first

    assert first.ok and second.ok and got == modes
    assert {name: stat.S_IMODE((target / name).stat().st_mode) for name in modes} == modes
    assert {name: (target / name).read_bytes() for name in modes} == {n: n.encode() for n in modes}
