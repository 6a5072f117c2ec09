"""The parent snapshot's trees, as an incremental backup compares files with them.

A tree is kept as the JSON its nodes were read as. An unchanged file is recognised and
written again from that JSON: decoding every node into a `Node` (pydantic, three times)
cost more than the rest of an incremental backup's work on an unchanged file. Only
directories and symlinks, a small share of the entries, become `Node`s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from datamover.gotime import GoTime
from datamover.jsonfmt import dumps, go_unquote
from datamover.modes import NodeType
from datamover.scanner import file_node_dict
from datamover.treejson import EncodedFile, subtree_id

if TYPE_CHECKING:
    from datamover.tree import Node

NodeDocument = dict[str, Any]
"""A node as restic's JSON."""


class ParentTree:
    """One directory's tree in the parent snapshot (or in an interrupted run)."""

    __slots__ = ("_by_name", "documents", "json", "names", "tree_id")

    def __init__(
        self, tree_id: bytes, documents: list[NodeDocument], json: bytes | None = None
    ) -> None:
        self.tree_id = tree_id
        self.documents = documents
        self.json = json
        """The tree blob as stored, for a worker process to compare a directory with."""
        self.names = [go_unquote(str(doc.get("name", ""))) for doc in documents]
        self._by_name = dict(zip(self.names, documents, strict=True))

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
        from datamover.tree import Node  # not at import: see `datamover.treejson`

        try:
            return Node.from_json_dict(doc)
        except ValueError:  # pydantic's ValidationError too
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
    it is unchanged (see `compare_file`) and whose content is all stored; None if the file
    must be read. When nothing in its metadata changed either, the candidate's JSON itself
    is kept."""
    for doc in candidates:
        if doc is None:
            continue
        compared = compare_file(name, st, doc)
        if compared is None:
            continue
        content = stored_content(compared[0], has_blob)
        if content is None:
            continue
        expected = compared[1]
        if expected is None:
            return EncodedFile(name, st.st_size, content, source=doc)
        return EncodedFile(name, st.st_size, content, dumps(expected))
    return None


def compare_file(
    name: str, st: os.stat_result, doc: NodeDocument
) -> tuple[list[str], NodeDocument | None] | None:
    """Whether `doc` says the file is unchanged (same size, mtime, and inode or ctime:
    restic's rule): None if not; else its content ids (hex), and None if `doc` is exactly
    the node this backup would write, or the node it would write instead."""
    if doc.get("type") != "file" or doc.get("size", 0) != st.st_size:
        return None
    hex_ids = doc.get("content")
    if not isinstance(hex_ids, list):
        return None
    expected = file_node_dict(name, st, st.st_size, hex_ids)
    if not _same_instant(doc.get("mtime"), expected["mtime"]):
        return None
    if doc.get("inode", 0) != st.st_ino and not _same_instant(doc.get("ctime"), expected["ctime"]):
        return None
    return hex_ids, None if doc == expected else expected


def stored_content(hex_ids: list[str], has_blob: Callable[[bytes], bool]) -> list[bytes] | None:
    """The content ids, if every one is stored (and valid hex)."""
    try:
        content = [bytes.fromhex(hex_id) for hex_id in hex_ids]
    except (TypeError, ValueError):
        return None
    return content if all(has_blob(blob) for blob in content) else None


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
