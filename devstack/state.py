"""The stack's memory: ports, credentials and the processes `up` started, in one JSON file.

The file holds development credentials, so it is written owner-readable only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from devstack.info import StackInfo
from devstack.processes import ManagedProcess
from devstack.services.seaweedfs import SeaweedPorts
from devstack.services.temporal import TemporalPorts

STATE_FILE = "stack.json"
LOCK_FILE = "stack.lock"


class ClusterPorts(BaseModel):
    model_config = ConfigDict(frozen=True)

    api: int
    nodes: tuple[str, ...]


class StackPorts(BaseModel):
    model_config = ConfigDict(frozen=True)

    temporal: TemporalPorts
    seaweedfs: SeaweedPorts
    moto: int
    clusters: dict[str, ClusterPorts] = Field(default_factory=dict)


class StackState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    info: StackInfo
    ports: StackPorts
    processes: dict[str, ManagedProcess] = Field(default_factory=dict)


def load(home: Path) -> StackState | None:
    path = home / STATE_FILE
    if not path.exists():
        return None
    return StackState.model_validate_json(path.read_text())


def save(home: Path, state: StackState) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".{STATE_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(state.model_dump_json(indent=2))
    tmp.replace(home / STATE_FILE)


@contextlib.contextmanager
def locked(home: Path) -> Iterator[None]:
    """Serialise `up`/`down` on one home, so two commands never start the same stack twice."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
