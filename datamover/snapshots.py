"""Snapshot documents exactly as restic stores them (``internal/restic/snapshot.go``)."""

from __future__ import annotations

import getpass
import json
import os
import socket
from typing import Any

from pydantic import BaseModel, ConfigDict

from datamover.gotime import GoTime
from datamover.hexid import HexId
from datamover.jsonfmt import dumps


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="ignore")

    time: GoTime
    parent: HexId | None = None
    tree: HexId
    paths: list[str]
    hostname: str = ""
    username: str = ""
    uid: int = 0
    gid: int = 0
    excludes: list[str] | None = None
    tags: list[str] | None = None
    original: HexId | None = None
    program_version: str | None = None

    @classmethod
    def new(
        cls,
        tree: bytes,
        paths: list[str],
        *,
        tags: list[str] | None = None,
        hostname: str | None = None,
        parent: bytes | None = None,
        time: GoTime | None = None,
    ) -> Snapshot:
        """A snapshot for the current user and host, as ``restic backup`` fills it."""
        try:
            username = getpass.getuser()
        except (KeyError, OSError):
            username = ""
        return cls(
            time=time or GoTime.now(),
            parent=parent,
            tree=tree,
            paths=paths,
            hostname=hostname if hostname is not None else socket.gethostname(),
            username=username,
            uid=os.getuid(),
            gid=os.getgid(),
            tags=tags or None,
        )

    def has_tags(self, tags: list[str]) -> bool:
        return all(tag in (self.tags or []) for tag in tags)

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"time": self.time.format()}
        if self.parent is not None:
            doc["parent"] = self.parent.hex()
        doc["tree"] = self.tree.hex()
        doc["paths"] = self.paths
        for key in ("hostname", "username", "uid", "gid", "excludes", "tags"):
            value = getattr(self, key)
            if value:
                doc[key] = value
        if self.original is not None:
            doc["original"] = self.original.hex()
        if self.program_version:
            doc["program_version"] = self.program_version
        return dumps(doc)

    @classmethod
    def from_json(cls, data: bytes) -> Snapshot:
        return cls.model_validate(json.loads(data))
