"""Repository stats: sizes before and after deduplication and compression."""

from __future__ import annotations

import os

from datamover.backend.base import FileType
from datamover.blobs import BlobType
from datamover.modes import NodeType
from datamover.repository import Repository
from datamover.snapshots import Snapshot
from datamover.stats import repository_stats
from datamover.tree import Node, Tree


def file_node(repo: Repository, name: str, data: bytes) -> Node:
    blob_id, _ = repo.save_blob(BlobType.DATA, data)
    return Node(name=name, type=NodeType.FILE, mode=0o644, size=len(data), content=[blob_id])


def test_a_directory_in_two_snapshots_counts_twice_before_dedup_once_after(
    repo: Repository,
) -> None:
    random = os.urandom(200_000)  # incompressible
    zeros = bytes(300_000)  # compresses to almost nothing
    shared = repo.save_tree(Tree(nodes=[file_node(repo, "random", random)]))
    sub = Node(name="sub", type=NodeType.DIR, mode=0o755, subtree=shared)
    first = repo.save_tree(Tree(nodes=[sub, file_node(repo, "zeros", zeros)]))
    second = repo.save_tree(Tree(nodes=[sub, file_node(repo, "copy", random)]))
    repo.save_snapshot(Snapshot.new(first, ["/a"]))
    repo.save_snapshot(Snapshot.new(second, ["/b"]))
    repo.flush()

    stats = repository_stats(repo)

    assert stats.snapshots == 2
    assert stats.data_blobs == 2 and stats.tree_blobs == 3
    assert stats.logical_bytes == (200_000 + 300_000) + (200_000 + 200_000)
    assert stats.unique_data_bytes == 500_000
    assert 0 < stats.uncompressed_bytes - 500_000 < 5_000  # the three trees
    assert stats.dedup_ratio == round(900_000 / 500_000, 2)
    assert stats.stored_bytes == sum(i.size for i in repo.backend.list(FileType.DATA))
    assert stats.stored_bytes < 220_000 < stats.uncompressed_bytes  # the zeros compressed
    assert stats.compression_ratio > 2
    assert stats.repository_bytes > stats.stored_bytes  # plus index and snapshot files


def test_an_empty_repository_has_neutral_ratios(repo: Repository) -> None:
    stats = repository_stats(repo)
    assert (stats.snapshots, stats.packs, stats.logical_bytes) == (0, 0, 0)
    assert stats.dedup_ratio == stats.compression_ratio == 1.0
