"""The parent snapshot's trees, as an incremental backup compares files with them.

A tree is kept as the JSON its nodes were read as. An unchanged file is recognised and
written again from that JSON: decoding every node into a `Node` (pydantic, three times)
cost more than the rest of an incremental backup's work on an unchanged file. Only
directories and symlinks, a small share of the entries, become `Node`s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from datamover.gotime import GoTime
from datamover.jsonfmt import dumps, go_unquote
from datamover.scanner import file_node_dict
from datamover.tree import EncodedFile, Node, NodeType, subtree_id

NodeDocument = dict[str, Any]
"""A node as restic's JSON."""


class ParentTree:
    """One directory's tree in the parent snapshot (or in an interrupted run)."""

    __slots__ = ("_by_name", "documents", "tree_id")

    def __init__(self, tree_id: bytes, documents: list[NodeDocument]) -> None:
        self.tree_id = tree_id
        self.documents = documents
        self._by_name = {go_unquote(str(doc.get("name", ""))): doc for doc in documents}

    def get(self, name: str) -> NodeDocument | None:
        return self._by_name.get(name)

    def subtrees(self) -> dict[str, bytes]:
        """The tree id of each subdirectory, by name (a damaged one is read as new)."""
        ids = ((name, subtree_id(doc)) for name, doc in self._by_name.items())
        return {name: tree_id for name, tree_id in ids if tree_id is not None}

    def node(self, name: str, kind: NodeType) -> Node | None:
        """The entry as a `Node`, if it is one of `kind` and valid."""
        doc = self._by_name.get(name)
        if doc is None or doc.get("type") != kind.value:
            return None
        try:
            return Node.from_json_dict(doc)
        except (ValidationError, ValueError):
            return None

    def kept_whole(self, nodes: Sequence[Node | EncodedFile]) -> bool:
        """Whether `nodes` are this tree's entries, each the very JSON it was read as (so
        the tree can be reused without encoding or hashing it again)."""
        return len(nodes) == len(self.documents) and all(
            node.to_json_dict() is doc for node, doc in zip(nodes, self.documents, strict=True)
        )


def unchanged_file(
    name: str,
    st: os.stat_result,
    candidates: Sequence[NodeDocument | None],
    has_blob: Callable[[bytes], bool],
) -> EncodedFile | None:
    """The file's node from the first candidate (parent snapshot, interrupted run) that says
    it is unchanged (same size, mtime, and inode or ctime: restic's rule) and whose content
    is all stored; None if the file must be read. When nothing in its metadata changed
    either, the candidate's JSON itself is kept."""
    expected: NodeDocument | None = None
    for doc in candidates:
        if doc is None or doc.get("type") != "file" or doc.get("size", 0) != st.st_size:
            continue
        hex_ids = doc.get("content")
        if not isinstance(hex_ids, list):
            continue
        if expected is None:
            expected = file_node_dict(name, st, st.st_size, hex_ids)
        else:
            expected["content"] = hex_ids
        if not _same_instant(doc.get("mtime"), expected["mtime"]):
            continue
        if doc.get("inode", 0) != st.st_ino and not _same_instant(
            doc.get("ctime"), expected["ctime"]
        ):
            continue
        try:
            content = [bytes.fromhex(hex_id) for hex_id in hex_ids]
        except (TypeError, ValueError):
            continue
        if not all(has_blob(blob) for blob in content):
            continue
        if doc == expected:
            return EncodedFile(name, st.st_size, content, source=doc)
        return EncodedFile(name, st.st_size, content, dumps(expected))
    return None


def _same_instant(written: object, ours: str) -> bool:
    """Whether a time from a tree is the instant we format as `ours` (another writer may
    have written it with another UTC offset)."""
    if written == ours:
        return True
    if not isinstance(written, str):
        return False
    try:
        return GoTime.parse(written).unix_ns == GoTime.parse(ours).unix_ns
    except ValueError:
        return False
