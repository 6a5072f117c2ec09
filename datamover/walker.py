"""Walking snapshot trees to find every blob they reach (for check and gc)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from datamover.blobs import BlobType
from datamover.modes import NodeType
from datamover.repository import Repository
from datamover.tree import Tree


def reachable_blobs(
    repo: Repository,
    root_trees: Iterable[bytes],
    on_tree: Callable[[bytes, Tree], None] | None = None,
) -> set[tuple[BlobType, bytes]]:
    """Every tree and data blob reachable from `root_trees`; each tree is loaded once.
    Errors loading a tree propagate: callers that delete data must not guess."""
    seen: set[tuple[BlobType, bytes]] = set()
    stack = [tree_id for tree_id in root_trees]
    while stack:
        tree_id = stack.pop()
        if (BlobType.TREE, tree_id) in seen:
            continue
        seen.add((BlobType.TREE, tree_id))
        tree = repo.load_tree(tree_id)
        if on_tree is not None:
            on_tree(tree_id, tree)
        for node in tree.nodes:
            if node.type is NodeType.FILE:
                seen.update((BlobType.DATA, blob_id) for blob_id in node.content or [])
            elif node.type is NodeType.DIR and node.subtree is not None:
                stack.append(node.subtree)
    return seen
