"""Trees and nodes exactly as restic stores them (``internal/restic/node.go``).

A tree blob is the JSON ``{"nodes": [...]}`` followed by a newline; its id is the SHA-256
of those bytes. Field order and Go's ``omitempty`` rules are kept so the JSON reads the
same as restic's; ``mode`` is Go's ``os.FileMode`` (type bits high, permission bits low).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from datamover.gotime import ZERO_TIME, GoTime
from datamover.hexid import HexId
from datamover.jsonfmt import dumps, go_quote, go_unquote
from datamover.modes import NodeType
from datamover.treejson import EncodedFile, tree_documents


class ExtendedAttribute(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    value: bytes


class Node(BaseModel):
    """One directory entry. ``name`` is the plain name (quoting happens in the JSON);
    ``content`` lists data blob ids of a file, ``subtree`` the tree id of a directory."""

    model_config = ConfigDict(extra="ignore")

    name: str
    type: NodeType
    mode: int = 0
    mtime: GoTime = ZERO_TIME
    atime: GoTime = ZERO_TIME
    ctime: GoTime = ZERO_TIME
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    inode: int = 0
    device_id: int = 0
    size: int = 0
    links: int = 0
    linktarget: str = ""
    extended_attributes: list[ExtendedAttribute] | None = None
    device: int = 0
    content: list[HexId] | None = Field(default=None, validate_default=True)
    subtree: HexId | None = None
    error: str = ""
    # `_source`: the JSON a node was read from, which `to_json_dict` gives back as it is:
    # nodes are never modified, and an incremental backup re-encodes every unchanged node
    # of a changed directory. A slot, not a pydantic private attribute, which would make
    # every node cost a third more to build; it is left out of equality and copies.
    __slots__ = ("_source",)
    if TYPE_CHECKING:  # (declared for mypy only: pydantic would make it a private attribute)
        _source: dict[str, Any] | None

    def model_post_init(self, context: Any, /) -> None:
        object.__setattr__(self, "_source", None)  # a slot: its default is set here

    @field_validator("content")
    @classmethod
    def _file_content_is_a_list(
        cls, content: list[bytes] | None, info: ValidationInfo
    ) -> list[bytes] | None:
        # restic's checker rejects a file whose content list is null.
        if content is None and info.data.get("type") is NodeType.FILE:
            return []
        return content

    def to_json_dict(self) -> dict[str, Any]:
        """The node as restic's encoder writes it: Go field order, omitempty honoured."""
        try:
            source: dict[str, Any] | None = self._source
        except AttributeError:  # a copy: pydantic copies fields, not slots
            source = None
        if source is not None:
            return source
        doc: dict[str, Any] = {"name": go_quote(self.name), "type": self.type.value}
        if self.mode:
            doc["mode"] = self.mode
        doc["mtime"] = self.mtime.format()
        doc["atime"] = self.atime.format()
        doc["ctime"] = self.ctime.format()
        doc["uid"] = self.uid
        doc["gid"] = self.gid
        for key in ("user", "group", "inode", "device_id", "size", "links"):
            value = getattr(self, key)
            if value:
                doc[key] = value
        if self.linktarget:
            raw = self.linktarget.encode("utf-8", "surrogateescape")
            try:
                doc["linktarget"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                doc["linktarget"] = raw.decode("utf-8", "replace")
                doc["linktarget_raw"] = base64.b64encode(raw).decode("ascii")
        if self.extended_attributes:
            doc["extended_attributes"] = [
                {"name": attr.name, "value": base64.b64encode(attr.value).decode("ascii")}
                for attr in self.extended_attributes
            ]
        if self.device:
            doc["device"] = self.device
        doc["content"] = None if self.content is None else list(map(bytes.hex, self.content))
        if self.subtree is not None:
            doc["subtree"] = self.subtree.hex()
        if self.error:
            doc["error"] = self.error
        return doc

    @classmethod
    def from_json_dict(cls, source: dict[str, Any]) -> Node:
        doc = dict(source)
        doc["name"] = go_unquote(doc.get("name", ""))
        raw = doc.pop("linktarget_raw", None)
        if raw:
            doc["linktarget"] = base64.b64decode(raw).decode("utf-8", "surrogateescape")
        attrs = doc.get("extended_attributes")
        if attrs:
            doc["extended_attributes"] = [
                {"name": a["name"], "value": base64.b64decode(a.get("value") or b"")} for a in attrs
            ]
        node = cls.model_validate(doc)
        if node.content is None or source.get("content") is not None:
            # (Not a file whose null content became [], which its JSON must then say.)
            object.__setattr__(node, "_source", source)
        return node


def encode_tree(nodes: Iterable[Node | EncodedFile]) -> bytes:
    """A tree blob's bytes: nodes sorted by name (as restic's tree builder does), then a
    newline. (The same bytes as encoding ``{"nodes": [...]}`` at once: compact JSON.)"""
    ordered = sorted(nodes, key=lambda node: os.fsencode(node.name))
    encoded = [
        node.json if isinstance(node, EncodedFile) else dumps(node.to_json_dict())
        for node in ordered
    ]
    return b'{"nodes":[' + b",".join(encoded) + b"]}\n"


class Tree(BaseModel):
    nodes: list[Node] = Field(default_factory=list)

    def to_json(self) -> bytes:
        return encode_tree(self.nodes)

    @classmethod
    def from_json(cls, data: bytes) -> Tree:
        return cls(nodes=[Node.from_json_dict(node) for node in tree_documents(data)])
