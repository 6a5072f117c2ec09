"""Two processes write into one repository at the same time; restic accepts the result."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from datamover.blobs import BlobType
from datamover.check import check
from datamover.repository import Repository

Restic = Callable[..., subprocess.CompletedProcess[str]]

WRITER = """
import os, sys, time
from pathlib import Path
from datamover.backend.local import LocalBackend
from datamover.blobs import BlobType
from datamover.repository import Repository
from datamover.snapshots import Snapshot
from datamover.modes import NodeType
from datamover.tree import Node, Tree

repo_dir, password, name, go = sys.argv[1:5]
repo = Repository.open(LocalBackend(repo_dir), password, pack_size=128 * 1024)
own = [os.urandom(60_000) for _ in range(8)]
shared = [b"shared between both writers" * 2000 + bytes([i]) for i in range(4)]
with repo.lock(exclusive=False):
    while not Path(go).exists():
        time.sleep(0.01)
    ids = [repo.save_blob(BlobType.DATA, data)[0] for data in [*shared, *own]]
    size = sum(len(d) for d in [*shared, *own])
    node = Node(name=name + ".img", type=NodeType.FILE, mode=0o600, size=size, content=ids)
    root = repo.save_tree(Tree(nodes=[node]))
    repo.save_snapshot(Snapshot.new(root, ["/volumes/" + name], tags=[name]))
repo.close()
"""


def test_two_processes_write_valid_snapshots(
    repo: Repository, repo_dir: Path, password: str, restic: Restic, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(repo_dir), password, name, str(go)])
        for name in ("pv-a", "pv-b")
    ]
    go.touch()
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]

    snapshots = json.loads(restic(repo_dir, "snapshots", "--json").stdout)
    assert sorted(tag for s in snapshots for tag in s["tags"]) == ["pv-a", "pv-b"]
    assert "no errors were found" in restic(repo_dir, "check", "--read-data").stdout
    reopened = Repository.open(repo.backend, password)
    assert check(reopened, read_data=True).ok
    for _, snapshot in reopened.list_snapshots():
        [node] = reopened.load_tree(snapshot.tree).nodes
        data = b"".join(reopened.load_blob(BlobType.DATA, i) for i in node.content or [])
        assert len(data) == node.size == 4 * 54_001 + 8 * 60_000
    reopened.close()
