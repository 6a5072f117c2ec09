"""Small named documents (JSON records) stored as a repository snapshot of their own.

Lifeboat keeps its catalog of recovery points in the repository, as snapshots that hold a
file per document, so a new control plane (or `restic dump`) finds them with nothing but the
repository and its password.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping, Sequence

from datamover.blobs import BlobType
from datamover.gotime import GoTime
from datamover.modes import NodeType, go_mode
from datamover.repository import Repository
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree

_PIECE = 1 << 20  # blobs of at most 1 MiB, so a large document is not one huge blob
_FILE_MODE = go_mode(stat.S_IFREG | 0o644)


def save_documents(
    repo: Repository,
    documents: Mapping[str, bytes],
    *,
    path: str,
    hostname: str,
    tags: Sequence[str],
) -> str:
    """One snapshot with one file per document; returns the snapshot id."""
    now = GoTime.now()
    nodes = []
    for name in sorted(documents):
        if not name or "/" in name or name in (".", "..") or "\0" in name:
            raise ValueError(f"document name {name!r} is not a plain file name")
        data = documents[name]
        content = [
            repo.save_blob(BlobType.DATA, data[i : i + _PIECE])[0]
            for i in range(0, len(data), _PIECE)
        ]
        nodes.append(
            Node(
                name=name,
                type=NodeType.FILE,
                mode=_FILE_MODE,
                mtime=now,
                atime=now,
                ctime=now,
                size=len(data),
                links=1,
                content=content,
            )
        )
    tree_id = repo.save_tree(Tree(nodes=nodes))
    snapshot = Snapshot.new(tree_id, [path], tags=list(tags), hostname=hostname, time=now)
    return repo.save_snapshot(snapshot)


def load_document(repo: Repository, snapshot_id: str, name: str) -> bytes:
    """The document `name` of a snapshot written by `save_documents`."""
    _, snapshot = repo.load_snapshot(snapshot_id)
    for node in repo.load_tree(snapshot.tree).nodes:
        if node.name == name and node.type is NodeType.FILE:
            return b"".join(repo.load_blob(BlobType.DATA, blob) for blob in node.content or [])
    raise KeyError(f"snapshot {snapshot_id[:8]} has no document {name!r}")
