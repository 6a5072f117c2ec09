"""Backups of real directory trees, checked with the real restic CLI."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from datamover import archiver as archiver_module
from datamover import smallfiles
from datamover.api import backup, restore
from datamover.archiver import Archiver
from datamover.backend.local import LocalBackend
from datamover.check import check
from datamover.chunker import ChunkerParams
from datamover.jobs import BackupOptions, BackupProgress, BackupResult, RestoreOptions
from datamover.kdf import ScryptParams
from datamover.parent import ParentTree
from datamover.repository import Repository
from datamover.scanner import Entry, open_for_reading
from datamover.smallfiles import read_small
from datamover.tree import Node

SMALL_CHUNKS = ChunkerParams(min_size=16 * 1024, avg_size=64 * 1024, max_size=256 * 1024)
MAKE_DATASET = str(
    next(
        p
        for p in (
            Path(__file__).resolve().parents[3] / "shared/bench/make_dataset.py",
            Path("/work/shared/bench/make_dataset.py"),
        )
        if p.exists()
    )
)
"""The shared dataset writer: `../shared` beside the checkout (CI), or the workplace's."""
FAST_KDF = ScryptParams(n=1024, r=8, p=1)


def make_tree(root: Path, seed: int = 7) -> None:
    """Everything a volume may hold: unicode names, links of all kinds, holes, big files."""
    rng = random.Random(seed)
    (root / "docs" / "ünïcødé ✓").mkdir(parents=True)
    (root / "docs" / "ünïcødé ✓" / "日本語.txt").write_text("こんにちは\n" * 100)
    (root / "docs" / "readme").write_bytes(b"hello\n")
    (root / "docs" / "readme").chmod(0o640)
    (root / "empty" / "nested-empty").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(rng.randbytes(3000))
    (root / "bin" / "tool").chmod(0o755)
    (root / "large.bin").write_bytes(rng.randbytes(1_500_000) + b"text " * 200_000)
    (root / "empty-file").write_bytes(b"")
    with open(root / "sparse.img", "wb") as f:
        f.truncate(8 * 1024 * 1024)
        f.seek(3 * 1024 * 1024)
        f.write(rng.randbytes(4096))
    (root / "links").mkdir()
    os.symlink("../docs/readme", root / "links" / "relative")
    os.symlink("/etc/hostname", root / "links" / "absolute")
    os.symlink("does-not-exist", root / "links" / "dangling")
    os.link(root / "bin" / "tool", root / "links" / "hardlink-to-tool")
    os.utime(root / "docs" / "readme", ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    settle_atimes(root)


def settle_atimes(root: Path) -> None:
    """List every directory and read every symlink once, so that later backups (which do
    both) do not move their atimes (relatime updates an atime older than the mtime)."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                os.readlink(path)


def describe(root: Path) -> dict[str, tuple[object, ...]]:
    """What a restore must reproduce: type, mode, mtime (ns), size, content or link."""
    found: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns, digest)
    return found


def test_round_trip_with_restic(
    tmp_path: Path, repo: Repository, repo_dir: Path, restic: object
) -> None:
    source = tmp_path / "source"
    make_tree(source)
    progress: list[BackupProgress] = []
    result = backup(
        repo,
        str(source),
        BackupOptions(chunker=SMALL_CHUNKS, tags=("t1",), hostname="node-a", files=4),
        progress=progress.append,
    )
    assert result.warnings == []
    assert result.files == 10  # 7 regular files (one a second hard link) and 3 symlinks
    regular = [p.stat() for p in source.rglob("*") if p.is_file() and not p.is_symlink()]
    every_link = sum(st.st_size for st in regular)
    every_inode = sum({st.st_ino: st.st_size for st in regular}.values())
    # A hard link's data is read once, unless both links are read at the same moment.
    assert result.bytes_read in (every_inode, every_link)
    assert progress and progress[-1].files_done == 10

    checked = restic(repo_dir, "check", "--read-data")  # type: ignore[operator]
    assert "no errors were found" in checked.stdout
    listed = restic(repo_dir, "snapshots", "--json")  # type: ignore[operator]
    assert '"tags":["t1"]' in listed.stdout and '"hostname":"node-a"' in listed.stdout

    by_restic = tmp_path / "by-restic"
    restic(repo_dir, "restore", "latest", "--target", str(by_restic))  # type: ignore[operator]
    by_lifeboat = tmp_path / "by-lifeboat"
    restored = restore(repo, result.snapshot_id[:10], str(by_lifeboat))
    assert restored.ok, restored.errors

    expected = describe(source)
    assert describe(by_restic) == expected
    assert describe(by_lifeboat) == expected
    # Hard links come back as hard links.
    for restored_tree in (by_restic, by_lifeboat):
        tool = restored_tree / "bin" / "tool"
        assert tool.stat().st_ino == (restored_tree / "links" / "hardlink-to-tool").stat().st_ino
    # The hole stays a hole.
    assert (by_lifeboat / "sparse.img").stat().st_blocks * 512 < 1024 * 1024


def test_restore_of_a_sub_path(tmp_path: Path, repo: Repository) -> None:
    source = tmp_path / "source"
    make_tree(source)
    result = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    target = tmp_path / "target"
    restored = restore(repo, result.snapshot_id, str(target), RestoreOptions(path="/docs/"))
    assert restored.ok
    assert describe(target) == describe(source / "docs")

    # Patterns then match paths inside the sub-path, as restic's do after SNAPSHOT:PATH.
    chosen = tmp_path / "chosen"
    options = RestoreOptions(path="/docs", include=["/ünïcødé ✓/*.txt"])
    restored = restore(repo, result.snapshot_id, str(chosen), options)
    assert restored.ok, restored.errors
    expected = describe(source / "docs")
    assert set(describe(chosen)) == {"ünïcødé ✓", "ünïcødé ✓/日本語.txt"}
    assert describe(chosen)["ünïcødé ✓/日本語.txt"] == expected["ünïcødé ✓/日本語.txt"]


_PATTERN_OPTIONS = {
    "--include": "include",
    "--exclude": "exclude",
    "--iinclude": "ignore_case_include",
    "--iexclude": "ignore_case_exclude",
}


@pytest.mark.parametrize(
    "arguments",
    [
        ["--include", "/docs"],
        ["--include", "*.txt"],  # at any depth: directories without one are not created
        ["--include", "/docs/**/*.txt", "--include", "/links/relative"],
        ["--exclude", "/docs", "--exclude", "*.img"],
        ["--iinclude", "/BIN/TOOL"],
        ["--iexclude", "LINKS"],
        ["--include", "/links"],  # a hard link whose first name is not restored
    ],
)
def test_include_and_exclude_restore_what_restic_restores(
    tmp_path: Path, repo: Repository, repo_dir: Path, restic: object, arguments: list[str]
) -> None:
    source = tmp_path / "source"
    make_tree(source)
    result = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    patterns: dict[str, list[str]] = {}
    for flag, pattern in zip(arguments[::2], arguments[1::2], strict=True):
        patterns.setdefault(_PATTERN_OPTIONS[flag], []).append(pattern)

    by_restic = tmp_path / "by-restic"
    restic(repo_dir, "restore", "latest", "--target", str(by_restic), *arguments)  # type: ignore[operator]
    by_lifeboat = tmp_path / "by-lifeboat"
    restored = restore(repo, result.snapshot_id, str(by_lifeboat), RestoreOptions(**patterns))

    assert restored.ok, restored.errors
    expected = _layout(by_restic)
    assert 0 < len(expected) < len(_layout(source))  # the patterns chose some, not all
    assert _layout(by_lifeboat) == expected


def _layout(root: Path) -> dict[str, tuple[object, ...]]:
    """`describe` without the times of directories: those restic only creates on the way
    to a selected entry get the time of the restore."""
    return {
        name: entry[:2] if entry[0] == "dir" else entry for name, entry in describe(root).items()
    }


def test_incremental_reads_only_changed_files(tmp_path: Path, repo: Repository) -> None:
    source = tmp_path / "source"
    subprocess.run([sys.executable, MAKE_DATASET, str(source), "--size-mb", "8"], check=True)
    settle_atimes(source)
    first = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    before = _mtimes(source)
    subprocess.run([sys.executable, MAKE_DATASET, str(source), "--mutate", "1"], check=True)
    after = _mtimes(source)
    changed = [rel for rel, mtime in after.items() if before.get(rel) != mtime]
    settle_atimes(source)

    second = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS, parent="latest"))

    assert 2 <= len(changed) < first.files / 10
    assert second.bytes_read == sum((source / rel).stat().st_size for rel in changed)
    assert second.files_unmodified == second.files - len(changed) - 1  # minus the symlink
    # Reusing the parent's nodes and trees gives the very tree a full backup builds.
    os.chmod(source / "empty-dir", 0o700)
    (source / "links" / "first").unlink()
    os.symlink("elsewhere", source / "links" / "first")
    settle_atimes(source)
    third = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS, parent="latest"))
    full = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    assert third.bytes_read == 0 and third.tree == full.tree != second.tree
    unchanged = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS, parent="latest"))
    assert unchanged.tree == full.tree and unchanged.bytes_new == 0
    restored = restore(repo, "latest", str(tmp_path / "out"))
    assert restored.ok
    assert describe(tmp_path / "out") == describe(source)


def _large_directories(root: Path) -> None:
    """Directories large enough for the worker processes to compare (see `_SCAN_AT_LEAST`)."""
    rng = random.Random(11)
    for directory, count in (("big", 400), ("big/sub ✓", 300), ("few", 5)):
        (root / directory).mkdir(parents=True)
        for i in range(count):
            (root / directory / f"f{i:04d}").write_bytes(rng.randbytes(rng.randint(0, 3000)))
    settle_atimes(root)


def test_workers_compare_large_directories_as_the_walk_would(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    _large_directories(source)
    first = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))
    # Content rewritten at the same size; metadata only; mtime only; removed; added.
    (source / "big" / "f0001").write_bytes(b"x" * (source / "big" / "f0001").stat().st_size)
    os.chmod(source / "big" / "f0002", 0o600)
    os.utime(source / "big/sub ✓" / "f0003", ns=(1_600_000_000_000_000_001,) * 2)
    (source / "big" / "f0004").unlink()
    (source / "big/sub ✓" / "new").write_bytes(b"new file")
    settle_atimes(source)
    scans: list[str] = []
    scan_ahead = Archiver._scan_ahead

    def counted(self: Archiver, path: str, tree: ParentTree) -> object:
        scanned = scan_ahead(self, path, tree)
        if scanned is not None:
            scans.append(os.path.relpath(path, source))
        return scanned

    monkeypatch.setattr(Archiver, "_scan_ahead", counted)

    results = {
        processes: Archiver(
            repo,
            BackupOptions(chunker=SMALL_CHUNKS, parent=first.snapshot_id, processes=processes),
        ).run(str(source))
        for processes in (2, 0)
    }
    full = backup(repo, str(source), BackupOptions(chunker=SMALL_CHUNKS))

    assert sorted(scans) == ["big", "big/sub ✓"]  # by the workers; none without them
    with_workers, without = results[2], results[0]
    assert with_workers.tree == without.tree == full.tree
    changed_bytes = sum(
        (source / rel).stat().st_size for rel in ("big/f0001", "big/sub ✓/f0003", "big/sub ✓/new")
    )
    for result in (with_workers, without):
        assert result.bytes_read == changed_bytes
        assert result.files_unmodified == first.files - 3  # rewritten, touched, removed
    restored = restore(repo, with_workers.snapshot_id, str(tmp_path / "out"))
    assert restored.ok and describe(tmp_path / "out") == describe(source)


@pytest.mark.parametrize("processes", [0, 2])
def test_a_full_backup_leaves_a_regular_files_lstat_to_its_reader(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """Without a parent tree, the walk sends regular files to the small-file batches unsized
    (no `lstat` each); what a batch hands back (large, hard-linked, or past its bytes) the
    walk sends on, sized by the batch's `fstat`. Every file is stored once, as it was."""
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    rng = random.Random(11)
    for i in range(150):
        (source / f"f{i:03d}").write_bytes(rng.randbytes(rng.randint(0, 15_000)))
    (source / "large").write_bytes(rng.randbytes(300_000))
    (source / "sub" / "inner").write_bytes(b"inner")
    os.link(source / "f007", source / "sub" / "link-to-f007")
    os.symlink("f001", source / "symlink")
    settle_atimes(source)
    regular = {p.name for p in source.rglob("*") if p.is_file() and not p.is_symlink()}
    statted: list[str] = []
    real_stat = os.stat

    def counting_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        statted.append(os.path.basename(os.fsdecode(path)))  # type: ignore[call-overload]
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type, call-overload]

    monkeypatch.setattr(archiver_module, "_SMALL_BATCH_BYTES", 100_000)  # ~13 files a batch
    monkeypatch.setattr(os, "stat", counting_stat)
    options = BackupOptions(chunker=SMALL_CHUNKS, processes=processes, files=2)
    with repo.lock(exclusive=False):
        result = Archiver(repo, options).run(str(source))
    monkeypatch.undo()

    assert regular.isdisjoint(statted)
    assert result.warnings == []
    assert result.files == 154  # 152 regular files (one a second hard link) and a symlink
    every_inode = sum(
        {p.stat().st_ino: p.stat().st_size for p in source.rglob("*") if p.name in regular}.values()
    )
    # A hard link's data is read once, unless both links are read at the same moment.
    assert result.bytes_read in (every_inode, every_inode + (source / "f007").stat().st_size)
    _, snapshot = repo.load_snapshot(result.snapshot_id)
    names = [n.name for n in repo.load_tree(snapshot.tree).nodes]
    assert names == sorted(names)
    restored = restore(repo, result.snapshot_id, str(tmp_path / "out"))
    assert restored.ok, restored.errors
    assert describe(tmp_path / "out") == describe(source)


def test_a_worker_dying_mid_backup_fails_the_backup_without_hanging(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the small-file workers die after their first answer, every later batch fails:
    the walk, and its wait for the batches at the end, stop; the backup fails naming the
    workers, and saves no snapshot."""
    source = tmp_path / "source"
    for d in range(4):
        (source / f"d{d}").mkdir(parents=True)
        for i in range(300):
            (source / f"d{d}" / f"f{i:03d}").write_bytes(b"data %d %d" % (d, i))
    real_done = Archiver._small_files_done

    def kill_workers_then_take(self: Archiver, *args: Any) -> None:
        if self._small_files is not None:
            for worker in self._small_files._workers:
                worker.kill()
        real_done(self, *args)

    monkeypatch.setattr(Archiver, "_small_files_done", kill_workers_then_take)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with repo.lock(exclusive=False):
                Archiver(repo, BackupOptions(chunker=SMALL_CHUNKS, processes=2)).run(str(source))
        except BaseException as exc:
            failures.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=120)
    assert not runner.is_alive(), "the backup hung"
    (failure,) = failures
    assert "worker process failed" in str(failure)
    assert repo.list_snapshots() == []


def test_identical_trees_store_their_data_once(tmp_path: Path, repo: Repository) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    make_tree(one, seed=3)
    make_tree(two, seed=3)
    first = backup(repo, str(one), BackupOptions(chunker=SMALL_CHUNKS))
    second = backup(repo, str(two), BackupOptions(chunker=SMALL_CHUNKS))
    assert first.bytes_new > 1_000_000
    assert second.bytes_read == first.bytes_read
    assert second.bytes_new < 1000  # only trees whose metadata differ (inodes, times)


def _mtimes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


class _Interfering(Archiver):
    """An archiver whose files are modified or removed at the worst moment."""

    grow: set[str] = set()
    remove: set[str] = set()

    def _read_content(self, fd: int, st: os.stat_result) -> tuple[list[bytes], int]:
        content = super()._read_content(fd, st)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name in self.grow:
            with open(f"/proc/self/fd/{fd}", "ab") as f:
                f.write(b"more")
        return content

    def _archive_file(self, entry: Entry) -> Node | None:
        if entry.name in self.remove:
            os.unlink(entry.path)
        return super()._archive_file(entry)


def test_files_changing_or_vanishing_during_the_backup(tmp_path: Path, repo: Repository) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("steady", "growing", "vanishing"):  # larger than a chunk's minimum
        (source / name).write_bytes(name.encode() * 3000)
    _Interfering.grow = {"growing"}
    _Interfering.remove = {"vanishing"}
    with repo.lock(exclusive=False):
        result = _Interfering(repo, BackupOptions(chunker=SMALL_CHUNKS)).run(str(source))

    _assert_growing_kept_as_read_and_vanishing_reported(tmp_path, repo, result)


def _assert_growing_kept_as_read_and_vanishing_reported(
    tmp_path: Path, repo: Repository, result: BackupResult
) -> int:
    """The checks of the two tests below; returns the size kept of `growing`."""
    assert any("growing" in w and "changed again" in w for w in result.warnings)
    assert any("vanishing" in w and "vanished" in w for w in result.warnings)
    _, snapshot = repo.load_snapshot(result.snapshot_id)
    nodes = {n.name: n for n in repo.load_tree(snapshot.tree).nodes}
    assert set(nodes) == {"steady", "growing"}
    # Kept as read the second time: the size matches the content that was stored.
    restored = restore(repo, result.snapshot_id, str(tmp_path / "out"))
    assert restored.ok
    size = (tmp_path / "out" / "growing").stat().st_size
    assert size == nodes["growing"].size
    return size


def test_small_files_changing_or_vanishing_during_the_backup(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small-file reader (the same function runs in the worker processes) reads a file
    that changed once more, keeps it as read if it changed again, and reports one that
    vanished; here in this process (`processes=0`), to interfere at the worst moment."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("steady", "growing", "vanishing"):
        (source / name).write_bytes(name.encode() * 100)

    def read_then_grow(fd: int, expected: int, limit: int) -> bytes | None:
        data = read_small(fd, expected, limit)
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/growing"):
            with open(f"/proc/self/fd/{fd}", "ab") as f:
                f.write(b"more")
        return data

    def vanish_then_open(path: bytes) -> int:
        if path.endswith(b"/vanishing"):
            os.unlink(path)
        return open_for_reading(path)

    monkeypatch.setattr(smallfiles, "read_small", read_then_grow)
    monkeypatch.setattr(smallfiles, "open_for_reading", vanish_then_open)
    with repo.lock(exclusive=False):
        result = Archiver(repo, BackupOptions(chunker=SMALL_CHUNKS, processes=0)).run(str(source))

    # Read twice, and it grew after each read: the second read is kept.
    assert _assert_growing_kept_as_read_and_vanishing_reported(tmp_path, repo, result) == 704


def test_sockets_are_skipped_with_a_warning(tmp_path: Path, repo: Repository) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_bytes(b"x")
    os.mkfifo(source / "fifo")
    result = backup(repo, str(source))
    assert any("fifo" in w for w in result.warnings)
    _, snapshot = repo.load_snapshot(result.snapshot_id)
    assert [n.name for n in repo.load_tree(snapshot.tree).nodes] == ["file"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "lifeboat.cli.repo", *args]


def test_resume_after_sigkill_uploads_nothing_twice(
    tmp_path: Path, repo: Repository, repo_dir: Path, restic: object
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(11)
    for i in range(12):
        (source / f"file-{i:02d}").write_bytes(rng.randbytes(6_000_000))
    settle_atimes(source)
    env = {**os.environ, "LIFEBOAT_PASSWORD": "correct horse battery staple"}
    checkpoint = tmp_path / "checkpoint.json"
    backup_args = [
        "backup", "-r", str(repo_dir), str(source), "--force", "--json",
        "--pack-size", "1", "--checkpoint-interval", "0.05", "--files", "2",
    ]  # fmt: skip
    killed = subprocess.Popen(
        [*_cli(*backup_args), "--checkpoint-file", str(checkpoint)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        while killed.poll() is None:
            text = checkpoint.read_text() if checkpoint.exists() else ""
            if '"packs":["' in text and '"files":{"' in text:  # a file is finished
                killed.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the backup ended before it could be killed"
    stored_before = {p.name for p in (repo_dir / "data").rglob("*") if p.is_file()}
    assert stored_before

    resumed = subprocess.run(
        [*_cli(*backup_args), "--resume", str(checkpoint)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = BackupResult.model_validate_json(resumed.stdout)
    total = sum(p.stat().st_size for p in source.iterdir())
    assert result.bytes_uploaded < total - 1_000_000  # what the first run stored stayed
    # ...and the files it had finished are not read again (they come from the checkpoint).
    assert result.bytes_read <= total - 6_000_000
    assert result.files_unmodified >= 1

    # The same tree as an uninterrupted backup into a fresh repository.
    other = Repository.init(
        LocalBackend(tmp_path / "other"), "pw", pack_size=1024 * 1024, kdf_params=FAST_KDF
    )
    try:
        uninterrupted = backup(other, str(source))
    finally:
        other.close()
    assert result.tree == uninterrupted.tree

    # No blob stored twice, no pack left out of the index, and restic agrees.
    checked = check(repo, read_data=True)
    assert checked.ok and checked.unindexed_packs == []
    locations = list(repo.index)
    assert len({loc.blob.id for loc in locations}) == len(locations)
    assert all(len(repo.index.lookup(loc.blob.type, loc.blob.id)) == 1 for loc in locations)
    restic(repo_dir, "unlock")  # type: ignore[operator]  # the killed run's lock is stale
    by_restic = restic(repo_dir, "check", "--read-data", check=False)  # type: ignore[operator]
    assert by_restic.returncode == 0, by_restic.stdout + by_restic.stderr


def test_a_failing_progress_callback_stops_the_backup(tmp_path: Path, repo: Repository) -> None:
    """How a cancelled activity stops a backup: its heartbeat raises."""
    source = tmp_path / "source"
    source.mkdir()
    rng = random.Random(5)
    for i in range(8):
        (source / f"f{i}").write_bytes(rng.randbytes(2_000_000))

    def cancelled(progress: BackupProgress) -> None:
        raise RuntimeError("activity cancelled")

    options = BackupOptions(chunker=SMALL_CHUNKS, progress_interval=0.05, files=2)
    with pytest.raises(RuntimeError, match="activity cancelled"):
        backup(repo, str(source), options, progress=cancelled)
