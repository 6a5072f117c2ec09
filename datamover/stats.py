"""How much a repository stores, and how much that would be without dedup and compression.

Three sizes, as `restic stats` names them: the files of every snapshot added up (restore
size), the unique blobs once decompressed (raw data), and the bytes the packs take. Their
ratios are the deduplication and the compression the repository achieves.
"""

from __future__ import annotations

from pydantic import BaseModel, computed_field

from datamover.backend.base import FileType
from datamover.blobs import BlobType
from datamover.modes import NodeType
from datamover.repository import Repository
from datamover.tree import Tree
from datamover.walker import reachable_blobs


class RepositoryStats(BaseModel):
    snapshots: int
    packs: int
    stored_bytes: int
    """Bytes the pack files take in the backend."""
    repository_bytes: int
    """Bytes of packs, index and snapshot files together: what the bucket holds."""
    data_blobs: int
    tree_blobs: int
    uncompressed_bytes: int
    """Every indexed blob once, decompressed: what is stored before compression."""
    unique_data_bytes: int
    """The file contents among them (data blobs), without the trees."""
    logical_bytes: int
    """The files of every snapshot added up: what is stored before deduplication."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dedup_ratio(self) -> float:
        return _ratio(self.logical_bytes, self.unique_data_bytes)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compression_ratio(self) -> float:
        return _ratio(self.uncompressed_bytes, self.stored_bytes)


def _ratio(before: int, after: int) -> float:
    return round(before / after, 2) if after else 1.0


def repository_stats(repo: Repository) -> RepositoryStats:
    """Reads the index, lists the files and walks every tree once (a tree shared by many
    snapshots is sized once)."""
    repo.index.load(repo.backend, repo.key)
    packs = list(repo.backend.list(FileType.DATA))
    metadata = sum(
        info.size
        for file_type in (FileType.INDEX, FileType.SNAPSHOTS)
        for info in repo.backend.list(file_type)
    )
    roots = [snapshot.tree for _, snapshot in repo.list_snapshots()]
    stored = sum(p.size for p in packs)
    plaintext = dict.fromkeys(BlobType, 0)
    for location in repo.index:
        plaintext[location.blob.type] += location.blob.plaintext_length
    return RepositoryStats(
        snapshots=len(roots),
        packs=len(packs),
        stored_bytes=stored,
        repository_bytes=stored + metadata,
        data_blobs=repo.index.blob_count(BlobType.DATA),
        tree_blobs=repo.index.blob_count(BlobType.TREE),
        uncompressed_bytes=sum(plaintext.values()),
        unique_data_bytes=plaintext[BlobType.DATA],
        logical_bytes=_logical_bytes(repo, roots),
    )


def _logical_bytes(repo: Repository, roots: list[bytes]) -> int:
    shapes: dict[bytes, tuple[int, list[bytes]]] = {}

    def record(tree_id: bytes, tree: Tree) -> None:
        files = sum(node.size for node in tree.nodes if node.type is NodeType.FILE)
        subtrees = [
            node.subtree
            for node in tree.nodes
            if node.type is NodeType.DIR and node.subtree is not None
        ]
        shapes[tree_id] = (files, subtrees)

    reachable_blobs(repo, roots, on_tree=record)
    sizes: dict[bytes, int] = {}
    for root in roots:
        stack = [root]
        while stack:  # post-order without recursion: trees can nest deeper than Python's stack
            tree_id = stack[-1]
            if tree_id in sizes:
                stack.pop()
                continue
            files, subtrees = shapes[tree_id]
            missing = [s for s in subtrees if s not in sizes]
            if missing:
                stack.extend(missing)
                continue
            sizes[tree_id] = files + sum(sizes[s] for s in subtrees)
            stack.pop()
    return sum(sizes[root] for root in roots)
