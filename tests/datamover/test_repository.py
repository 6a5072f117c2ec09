"""Repository layer against the real restic 0.14 CLI, on local directory repositories."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datamover.backend.base import FileType
from datamover.backend.local import LocalBackend
from datamover.blobs import BlobType
from datamover.check import ProblemKind, check
from datamover.errors import (
    BackendUnreachableError,
    BlobCorruptedError,
    InvalidRepositoryDataError,
    RepositoryExistsError,
    RepositoryLockedError,
    RepositoryNotFoundError,
    SnapshotNotFoundError,
    WrongPasswordError,
)
from datamover.gotime import GoTime
from datamover.ids import hash_bytes
from datamover.index import MasterIndex
from datamover.kdf import ScryptParams
from datamover.modes import NodeType, go_mode
from datamover.repository import INDEX_EVERY_BLOBS, Repository
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree

PASSWORD = "correct horse battery staple"  # the conftest's password
FAST_KDF = ScryptParams(n=1024, r=8, p=1)
Restic = Callable[..., subprocess.CompletedProcess[str]]
MTIME = GoTime.parse("2024-05-06T07:08:09.123456789+02:00")


def file_node(name: str, content: list[bytes], size: int) -> Node:
    return Node(
        name=name,
        type=NodeType.FILE,
        mode=go_mode(0o100640),
        mtime=MTIME,
        atime=MTIME,
        ctime=MTIME,
        size=size,
        links=1,
        content=content,
    )


def write_snapshot(repo: Repository, files: dict[str, bytes], tags: list[str]) -> str:
    """A snapshot of /data with `files` (each cut into 64 KiB blobs) and a symlink."""
    nodes: list[Node] = []
    for name, data in files.items():
        chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
        ids = [repo.save_blob(BlobType.DATA, chunk)[0] for chunk in chunks]
        nodes.append(file_node(name, ids, len(data)))
    nodes.append(
        Node(name="link", type=NodeType.SYMLINK, mode=go_mode(0o120777), linktarget="../elsewhere")
    )
    empty_dir = repo.save_tree(Tree())
    nodes.append(
        Node(
            name="empty", type=NodeType.DIR, mode=go_mode(0o040750), mtime=MTIME, subtree=empty_dir
        )
    )
    root = repo.save_tree(Tree(nodes=nodes))
    return repo.save_snapshot(Snapshot.new(root, ["/data"], tags=tags))


def test_init_is_readable_by_restic(repo: Repository, repo_dir: Path, restic: Restic) -> None:
    config = json.loads(restic(repo_dir, "cat", "config").stdout)
    assert config["version"] == 2
    assert config["id"] == repo.config.id
    assert config["chunker_polynomial"] == repo.config.chunker_polynomial
    assert json.loads(restic(repo_dir, "snapshots", "--json").stdout) == []


def test_init_refuses_existing_repository(repo: Repository, repo_dir: Path) -> None:
    with pytest.raises(RepositoryExistsError):
        Repository.init(LocalBackend(repo_dir), PASSWORD, kdf_params=FAST_KDF)


def test_written_snapshot_passes_restic_check_and_restores(
    repo: Repository, repo_dir: Path, restic: Restic, tmp_path: Path
) -> None:
    files = {
        "random.bin": os.urandom(300_000),
        "text.txt": b"lifeboat " * 40_000,
        'odd "name"\\ü': b"x",
        "empty-file": b"",
    }
    snapshot_id = write_snapshot(repo, files, tags=["rp-1"])
    [text_blob] = repo.index.lookup(BlobType.DATA, hash_bytes(files["text.txt"][:65536]))
    assert text_blob.blob.uncompressed_length == 65536 and text_blob.blob.length < 1000
    [random_blob] = repo.index.lookup(BlobType.DATA, hash_bytes(files["random.bin"][:65536]))
    assert not random_blob.blob.compressed

    checked = restic(repo_dir, "check", "--read-data")
    assert "no errors were found" in checked.stdout

    listing = restic(repo_dir, "ls", "--json", snapshot_id).stdout.splitlines()
    paths = {json.loads(line).get("path") for line in listing[1:]}
    assert paths == {f"/{name}" for name in files} | {"/link", "/empty"}

    target = tmp_path / "restored"
    restic(repo_dir, "restore", snapshot_id, "--target", str(target))
    for name, data in files.items():
        restored = target / name
        assert restored.read_bytes() == data
        assert restored.stat().st_mtime_ns == MTIME.unix_ns
        assert restored.stat().st_mode & 0o7777 == 0o640
    assert os.readlink(target / "link") == "../elsewhere"
    assert (target / "empty").is_dir()

    snapshots = json.loads(restic(repo_dir, "snapshots", "--json").stdout)
    assert [(s["id"], s["tags"]) for s in snapshots] == [(snapshot_id, ["rp-1"])]


def test_reads_a_repository_written_by_restic(
    tmp_path: Path, restic: Restic, password_file: Path
) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "big.bin").write_bytes(os.urandom(2_500_000))
    (source / "tab\tname").write_bytes(b"tab")
    (source / "link").symlink_to("sub/big.bin")
    repo_dir = tmp_path / "restic-repo"
    restic(repo_dir, "init")
    restic(repo_dir, "backup", "--tag", "made-by-restic", str(source))

    repo = Repository.open(LocalBackend(repo_dir), PASSWORD)
    [(snapshot_id, snapshot)] = repo.list_snapshots()
    assert snapshot.tags == ["made-by-restic"]
    assert repo.load_snapshot(snapshot_id[:8]) == (snapshot_id, snapshot)
    assert repo.load_snapshot("latest")[0] == snapshot_id

    tree = repo.load_tree(snapshot.tree)
    for part in source.parts[1:]:
        [node] = [n for n in tree.nodes if n.name == part]
        assert node.subtree is not None
        tree = repo.load_tree(node.subtree)
    by_name = {node.name: node for node in tree.nodes}
    assert set(by_name) == {"sub", "tab\tname", "link"}
    assert by_name["link"].linktarget == "sub/big.bin"
    assert by_name["tab\tname"].mtime.unix_ns == (source / "tab\tname").stat().st_mtime_ns
    assert by_name["sub"].subtree is not None
    [big] = repo.load_tree(by_name["sub"].subtree).nodes
    data = b"".join(repo.load_blob(BlobType.DATA, blob_id) for blob_id in big.content or [])
    assert data == (source / "sub" / "big.bin").read_bytes()
    # restic's tree JSON re-encodes to bytes with the same id.
    raw = repo.load_blob(BlobType.TREE, snapshot.tree)
    assert hash_bytes(Tree.from_json(raw).to_json()) == snapshot.tree
    repo.close()


def test_wrong_password_and_missing_repository(
    repo: Repository, repo_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(WrongPasswordError) as wrong:
        Repository.open(LocalBackend(repo_dir), "not the password")
    assert "not the password" not in str(wrong.value)
    with pytest.raises(RepositoryNotFoundError):
        Repository.open(LocalBackend(tmp_path / "nothing-here"), PASSWORD)
    with pytest.raises(SnapshotNotFoundError):
        repo.load_snapshot("latest")


def test_an_index_read_later_is_waited_for_and_its_errors_raised_then(
    repo: Repository, repo_dir: Path
) -> None:
    """`Repository.open(index_later=True)` returns before the index files are read; `index`
    waits for them, and raises what reading them raised."""
    blob_id, _ = repo.save_blob(BlobType.DATA, b"indexed before the second open")
    repo.flush()
    later = Repository.open(LocalBackend(repo_dir), PASSWORD, index_later=True)
    assert later.index.has(BlobType.DATA, blob_id)
    assert not later.index_pending
    later.close()

    (index_file,) = (repo_dir / "index").iterdir()
    index_file.chmod(0o644)
    index_file.write_bytes(b"not an index")
    broken = Repository.open(LocalBackend(repo_dir), PASSWORD, index_later=True)
    with pytest.raises(InvalidRepositoryDataError, match=index_file.name):
        broken.index  # noqa: B018
    broken.close()


def test_an_index_being_read_is_pending_until_read(
    repo: Repository, repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reading = threading.Event()
    load = MasterIndex.load

    def held(index: MasterIndex, *args: Any, **kwargs: Any) -> None:
        reading.wait(timeout=10)
        load(index, *args, **kwargs)

    monkeypatch.setattr(MasterIndex, "load", held)
    later = Repository.open(LocalBackend(repo_dir), PASSWORD, index_later=True)
    try:
        assert later.index_pending
        reading.set()
        later.index  # noqa: B018
        assert not later.index_pending
    finally:
        reading.set()
        later.close()
    assert not repo.index_pending  # (read when it was opened)


def test_closing_waits_for_an_index_still_being_read(
    repo: Repository, repo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread of a closed repository goes on reading from its backend."""
    reading, read = threading.Event(), threading.Event()
    load = MasterIndex.load

    def held(index: MasterIndex, *args: Any, **kwargs: Any) -> None:
        reading.wait(timeout=10)
        load(index, *args, **kwargs)
        read.set()

    monkeypatch.setattr(MasterIndex, "load", held)
    later = Repository.open(LocalBackend(repo_dir), PASSWORD, index_later=True)
    closing = threading.Thread(target=later.close)
    closing.start()
    closing.join(timeout=0.3)
    assert closing.is_alive()  # waiting for the index
    reading.set()
    closing.join(timeout=10)
    assert not closing.is_alive() and read.is_set()


@pytest.mark.parametrize(
    ("n", "said"), [(1000, "power of two"), (2**40, "at most 1024 MiB")], ids=["not 2^k", "huge"]
)
def test_a_key_file_asking_scrypt_for_the_impossible_is_named(
    repo: Repository, repo_dir: Path, n: int, said: str
) -> None:
    """A damaged or hostile key file's N is refused, naming the file, before scrypt runs
    (libsodium failed on 128 TiB with a bare RuntimeError); the repository is untouched."""
    (key_path,) = (repo_dir / "keys").iterdir()
    original = key_path.read_bytes()
    key_path.chmod(0o644)
    key_path.write_text(json.dumps({**json.loads(original), "N": n}))
    with pytest.raises(InvalidRepositoryDataError, match=f"key file {key_path.name}.*{said}"):
        Repository.open(LocalBackend(repo_dir), PASSWORD)
    key_path.write_bytes(original)
    Repository.open(LocalBackend(repo_dir), PASSWORD).close()


def test_a_removed_snapshot_is_gone_for_the_instance_that_read_it(repo: Repository) -> None:
    """Snapshot files are read once per instance; removing one forgets that reading too."""
    tree = repo.save_tree(Tree(nodes=[]))
    snapshot_id = repo.save_snapshot(Snapshot.new(tree, ["/pv"]))
    assert repo.load_snapshot(snapshot_id)[0] == snapshot_id
    repo.remove_snapshot(snapshot_id)
    with pytest.raises(SnapshotNotFoundError):
        repo.load_snapshot(snapshot_id)


def test_corrupted_pack_is_named_by_load_blob_and_check(repo: Repository, repo_dir: Path) -> None:
    good = os.urandom(100_000)
    bad = os.urandom(100_000)
    write_snapshot(repo, {"good": good}, tags=[])
    pack_of_good = {info.name for info in repo.backend.list(FileType.DATA)}
    bad_id = repo.save_blob(BlobType.DATA, bad)[0]
    repo.flush()
    [location] = repo.index.lookup(BlobType.DATA, bad_id)
    pack_hex = location.pack_id.hex()
    assert pack_hex not in pack_of_good
    path = repo_dir / "data" / pack_hex[:2] / pack_hex
    path.chmod(0o600)
    content = bytearray(path.read_bytes())
    content[location.blob.offset + 100] ^= 0xFF
    path.write_bytes(bytes(content))

    with pytest.raises(BlobCorruptedError) as corrupted:
        repo.load_blob(BlobType.DATA, bad_id)
    assert corrupted.value.pack_id == pack_hex
    assert corrupted.value.blob_id == bad_id.hex()
    assert repo.load_blob(BlobType.DATA, hash_bytes(good[:65536])) == good[:65536]

    structural = check(repo)
    assert structural.ok, structural.problems
    result = check(repo, read_data=True)
    assert not result.ok
    assert {p.pack_id for p in result.problems} == {pack_hex}
    blob_problems = [p for p in result.problems if p.kind is ProblemKind.BLOB_CORRUPTED]
    assert [p.blob_id for p in blob_problems] == [bad_id.hex()]
    assert result.packs_read == len(pack_of_good) + 1


def test_check_reads_a_percentage_of_packs(repo: Repository) -> None:
    for _ in range(8):
        repo.save_blob(BlobType.DATA, os.urandom(300_000))
    repo.flush()
    assert len(repo.index.pack_ids()) == 8
    result = check(repo, read_data_percent=25)
    assert result.ok
    assert result.packs_read == 2
    assert result.blobs_read == 2


def test_checkpoint_and_resume_upload_nothing_twice(repo_dir: Path, repo: Repository) -> None:
    blobs = [os.urandom(100_000) for _ in range(11)]  # 3 full packs of 3, 2 left open
    ids = [repo.save_blob(BlobType.DATA, data)[0] for data in blobs]
    # Wait for the full packs (not the open one) to be uploaded, as a progress tick would.
    while repo.stats.packs_uploaded < 3:
        threading.Event().wait(0.01)
    checkpoint = repo.checkpoint()
    assert len(checkpoint.packs) == 3
    packs_before = {info.name for info in repo.backend.list(FileType.DATA)}
    assert not list(repo.backend.list(FileType.INDEX))
    repo.close()  # no flush: the process "dies" here
    del repo

    resumed = Repository.open(LocalBackend(repo_dir), PASSWORD, pack_size=256 * 1024)
    assert not any(resumed.has_blob(BlobType.DATA, blob_id) for blob_id in ids)
    resumed.resume(checkpoint)
    stored = [blob_id for blob_id in ids if resumed.has_blob(BlobType.DATA, blob_id)]
    assert len(stored) == 9  # 3 packs of 3 blobs; the open pack was lost
    new = [resumed.save_blob(BlobType.DATA, data)[1] for data in blobs]
    assert new.count(True) == 2
    resumed.flush()
    packs_after = {info.name for info in resumed.backend.list(FileType.DATA)}
    assert packs_before <= packs_after and len(packs_after) == len(packs_before) + 1
    for blob_id, data in zip(ids, blobs, strict=True):
        assert resumed.load_blob(BlobType.DATA, blob_id) == data
        assert len(resumed.index.lookup(BlobType.DATA, blob_id)) == 1
    assert resumed.checkpoint().packs == []
    assert check(resumed, read_data=True).ok
    resumed.close()


def test_uploaded_blobs_are_indexed_as_they_add_up_not_only_at_the_end(
    repo: Repository, repo_dir: Path, restic: Restic
) -> None:
    """Packs of small blobs hold thousands each: their index is written as they are
    uploaded, so the end of a backup has only the last ones to index."""
    blobs = [os.urandom(64) for _ in range(INDEX_EVERY_BLOBS + 3000)]
    for data in blobs:
        repo.save_blob(BlobType.DATA, data)
    deadline = time.monotonic() + 30
    while repo.stats.index_files_written == 0:  # (written by an upload thread)
        assert time.monotonic() < deadline, "no index file was written before the end"
        threading.Event().wait(0.01)
    written = {info.name for info in repo.backend.list(FileType.INDEX)}
    indexed = Repository.open(LocalBackend(repo_dir), PASSWORD)
    assert INDEX_EVERY_BLOBS <= indexed.index.blob_count(BlobType.DATA) < len(blobs)
    indexed.close()

    repo.flush()
    assert written < {info.name for info in repo.backend.list(FileType.INDEX)}
    assert repo.index.blob_count(BlobType.DATA) == len(blobs)
    restic(repo_dir, "check", "--read-data")


def test_parallel_saves_deduplicate_and_bound_pending_packs(repo_dir: Path) -> None:
    repo = Repository.init(
        LocalBackend(repo_dir),
        PASSWORD,
        pack_size=64 * 1024,
        max_pending_packs=1,
        kdf_params=FAST_KDF,
    )
    payloads = [os.urandom(20_000) for _ in range(40)]
    results: list[tuple[bytes, bool]] = []
    lock = threading.Lock()

    def worker() -> None:
        for data in payloads:
            outcome = repo.save_blob(BlobType.DATA, data)
            with lock:
                results.append(outcome)
            assert repo.pending_packs <= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    repo.flush()
    assert sum(new for _, new in results) == len(payloads)
    assert repo.stats.blobs_new == len(payloads)
    assert repo.stats.blobs_known == 3 * len(payloads)
    assert repo.index.blob_count(BlobType.DATA) == len(payloads)
    assert check(repo, read_data=True).ok
    repo.close()


def test_exclusive_lock_conflicts_with_any_other(
    repo: Repository, repo_dir: Path, restic: Restic
) -> None:
    with repo.lock(exclusive=False):
        with repo.lock(exclusive=False):
            pass
        with pytest.raises(RepositoryLockedError), repo.lock(exclusive=True):
            pass
        refused = restic(repo_dir, "prune", check=False)
        assert refused.returncode != 0 and "locked" in refused.stderr
    with repo.lock(exclusive=True):
        assert len(list(repo.backend.list(FileType.LOCKS))) == 1
        with pytest.raises(RepositoryLockedError), repo.lock(exclusive=False):
            pass
    assert not list(repo.backend.list(FileType.LOCKS))


def test_restic_backs_up_into_a_lifeboat_repository(
    repo: Repository, repo_dir: Path, restic: Restic, tmp_path: Path
) -> None:
    ours = write_snapshot(repo, {"a.bin": os.urandom(70_000)}, tags=["lifeboat"])
    source = tmp_path / "src"
    source.mkdir()
    (source / "b.txt").write_text("restic was here\n" * 1000)
    restic(repo_dir, "backup", "--tag", "restic", str(source))

    reopened = Repository.open(LocalBackend(repo_dir), PASSWORD)
    snapshots = dict(reopened.list_snapshots())
    assert ours in snapshots
    assert sorted(tag for s in snapshots.values() for tag in s.tags or []) == ["lifeboat", "restic"]
    assert check(reopened, read_data=True).ok
    reopened.close()


class FlakyBackend(LocalBackend):
    """A directory whose pack uploads fail, like an S3 endpoint that went away."""

    def save(self, file_type: FileType, name: str, data: bytes) -> None:
        if file_type is FileType.DATA:
            raise BackendUnreachableError("cannot reach the endpoint (writing a pack)")
        super().save(file_type, name, data)


def test_failed_upload_surfaces_as_typed_error_and_leaves_repo_consistent(
    repo: Repository, repo_dir: Path, restic: Restic
) -> None:
    flaky = Repository.open(FlakyBackend(repo_dir), PASSWORD, pack_size=64 * 1024)
    with pytest.raises(BackendUnreachableError):
        write_snapshot(flaky, {"lost.bin": os.urandom(200_000)}, tags=[])
    with pytest.raises(BackendUnreachableError):
        flaky.save_blob(BlobType.DATA, b"after the failure")
    flaky.close()
    assert repo.list_snapshots() == []
    assert check(repo).ok
    assert "no errors were found" in restic(repo_dir, "check").stdout
