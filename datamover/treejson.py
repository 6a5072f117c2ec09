"""restic's tree JSON without pydantic: what the walk of a backup, the comparison with the
parent snapshot and the worker processes need of it (`datamover.tree` validates nodes as
pydantic models; importing it would double a worker's start)."""

from __future__ import annotations

from typing import Any

from datamover.jsonfmt import dumps, loads
from datamover.modes import NodeType


class EncodedFile:
    """A file's node as restic's JSON, without a `Node`: written by a small-file worker, or
    taken unchanged from the parent snapshot's tree. A tree (or a checkpoint) needs only
    this of it, and validating it as a `Node` would cost more than the rest of the file's
    work (an incremental backup of 100,000 unchanged files spent a third of its time so)."""

    __slots__ = ("_json", "_source", "content", "name", "size")
    type = NodeType.FILE

    def __init__(
        self,
        name: str,
        size: int,
        content: list[bytes],
        json: bytes | None = None,
        *,
        source: dict[str, Any] | None = None,
    ) -> None:
        if (json is None) == (source is None):
            raise ValueError("an encoded file has its JSON either as bytes or as read")
        self.name = name
        self.size = size
        self.content = content
        self._json = json
        self._source = source

    @property
    def json(self) -> bytes:
        if self._json is None:
            self._json = dumps(self._source)
        return self._json

    def to_json_dict(self) -> dict[str, Any]:
        """The node's JSON: the very object it was read as, if it was."""
        if self._source is not None:
            return self._source
        document: dict[str, Any] = loads(self.json)
        return document


def subtree_id(document: dict[str, Any]) -> bytes | None:
    """The tree id of a directory's node JSON; None for other nodes, or a damaged id."""
    subtree = document.get("subtree")
    if document.get("type") != NodeType.DIR or not isinstance(subtree, str):
        return None
    try:
        return bytes.fromhex(subtree)
    except ValueError:
        return None


def tree_documents(data: bytes) -> list[dict[str, Any]]:
    """The nodes of a tree blob as JSON objects; ValueError if it is not a tree."""
    doc = loads(data)
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if nodes is None:
        nodes = []
    if not isinstance(nodes, list) or not all(isinstance(node, dict) for node in nodes):
        raise ValueError("a tree's nodes must be a list of objects")
    return nodes
