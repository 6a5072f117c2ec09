"""forget and gc: only data no snapshot needs goes, young packs stay, restic agrees."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from datamover.backend.base import FileType
from datamover.blobs import BlobType
from datamover.check import check
from datamover.errors import RepositoryLockedError
from datamover.modes import NodeType
from datamover.prune import forget, gc
from datamover.repository import Repository
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree

Restic = Callable[..., subprocess.CompletedProcess[str]]


def snapshot_of(repo: Repository, blobs: list[bytes], tag: str) -> str:
    ids = [repo.save_blob(BlobType.DATA, data)[0] for data in blobs]
    size = sum(len(b) for b in blobs)
    node = Node(name="file", type=NodeType.FILE, mode=0o644, size=size, content=ids)
    root = repo.save_tree(Tree(nodes=[node]))
    return repo.save_snapshot(Snapshot.new(root, ["/vol"], tags=[tag]))


def stored_bytes(repo: Repository) -> int:
    return sum(info.size for info in repo.backend.list(FileType.DATA))


def test_forget_and_gc_free_only_unshared_data(
    repo: Repository, repo_dir: Path, restic: Restic
) -> None:
    shared = [os.urandom(90_000) for _ in range(2)]
    only_old = [os.urandom(90_000) for _ in range(6)]
    only_new = [os.urandom(90_000) for _ in range(2)]
    # The first snapshot's packs mix shared and soon-unused blobs, so gc must repack.
    old = snapshot_of(repo, [shared[0], *only_old, shared[1]], "old")
    new = snapshot_of(repo, [*shared, *only_new], "new")
    before = stored_bytes(repo)

    assert gc(repo, safety_margin=timedelta(0)).packs_deleted == 0  # nothing unused yet
    assert forget(repo, tags=["old"]).removed == [old]
    kept_young = gc(repo, safety_margin=timedelta(hours=1))
    assert kept_young.bytes_freed == 0 and kept_young.packs_kept_young > 0
    assert stored_bytes(repo) == before

    result = gc(repo, safety_margin=timedelta(0))
    assert result.blobs_removed == len(only_old) + 1  # and the old snapshot's tree
    assert result.packs_repacked >= 1
    assert 0.9 * 6 * 90_000 < result.bytes_freed == before - stored_bytes(repo)
    assert [sid for sid, _ in repo.list_snapshots()] == [new]
    assert not any(repo.has_blob(BlobType.DATA, repo_blob) for repo_blob in map(_id, only_old))
    for data in shared + only_new:
        assert repo.load_blob(BlobType.DATA, _id(data)) == data
    assert check(repo, read_data=True).ok
    assert "no errors were found" in restic(repo_dir, "check", "--read-data").stdout

    reopened = Repository.open(repo.backend, "correct horse battery staple")
    assert reopened.index.blob_count(BlobType.DATA) == len(shared) + len(only_new)
    reopened.close()


def test_gc_deletes_unindexed_packs_only_after_the_margin(repo: Repository) -> None:
    kept = snapshot_of(repo, [os.urandom(50_000)], "keep")
    # A writer that died after uploading a pack and before writing its index.
    writer = Repository.open(repo.backend, "correct horse battery staple", pack_size=100_000)
    writer.save_blob(BlobType.DATA, os.urandom(150_000))
    while writer.stats.packs_uploaded < 1:
        threading.Event().wait(0.01)
    orphan = writer.checkpoint().packs
    writer.close()
    assert len(orphan) == 1 and not list_index_names(repo) - {*repo.index.index_files}

    young = gc(repo, safety_margin=timedelta(minutes=5))
    assert young.packs_deleted == 0
    assert repo.backend.exists(FileType.DATA, orphan[0])

    old = gc(repo, safety_margin=timedelta(0))
    assert old.packs_deleted == 1
    assert not repo.backend.exists(FileType.DATA, orphan[0])
    assert [sid for sid, _ in repo.list_snapshots()] == [kept]
    assert check(repo, read_data=True).ok


def list_index_names(repo: Repository) -> set[str]:
    return {info.name for info in repo.backend.list(FileType.INDEX)}


def test_forget_refuses_while_a_writer_holds_a_lock(repo: Repository) -> None:
    snapshot_id = snapshot_of(repo, [b"data"], "x")
    with repo.lock(exclusive=False), pytest.raises(RepositoryLockedError):
        forget(repo, snapshot_ids=[snapshot_id[:8]])
    with pytest.raises(ValueError):
        forget(repo)
    assert forget(repo, snapshot_ids=[snapshot_id[:8]]).removed == [snapshot_id]


def _id(data: bytes) -> bytes:
    from datamover.ids import hash_bytes

    return hash_bytes(data)
