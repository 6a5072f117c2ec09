"""Tree JSON as restic writes and reads it, including names that are not UTF-8."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from datamover.backend.local import LocalBackend
from datamover.modes import (
    GO_MODE_DIR,
    GO_MODE_SYMLINK,
    NodeType,
    go_mode,
    node_type_of,
    posix_permissions,
)
from datamover.repository import Repository
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree

Restic = Callable[..., subprocess.CompletedProcess[str]]


def test_go_file_modes() -> None:
    assert go_mode(stat.S_IFDIR | 0o755) == GO_MODE_DIR | 0o755 == 2147484141
    assert go_mode(stat.S_IFLNK | 0o777) == GO_MODE_SYMLINK | 0o777 == 134218239
    assert go_mode(stat.S_IFREG | 0o4755) == 0o755 | (1 << 23)
    assert posix_permissions(go_mode(stat.S_IFREG | 0o6751)) == 0o6751
    assert node_type_of(stat.S_IFSOCK) is NodeType.SOCKET


def test_node_json_follows_go_omitempty_and_sorting() -> None:
    tree = Tree(
        nodes=[
            Node(name="b", type=NodeType.FILE, size=0),
            Node(name="a", type=NodeType.DIR, mode=GO_MODE_DIR | 0o700, subtree=b"\x01" * 32),
        ]
    )
    data = tree.to_json()
    assert data.endswith(b"}\n")
    doc = json.loads(data)
    assert [n["name"] for n in doc["nodes"]] == ["a", "b"]
    assert doc["nodes"][1] == {
        "name": "b",
        "type": "file",
        "mtime": "0001-01-01T00:00:00Z",
        "atime": "0001-01-01T00:00:00Z",
        "ctime": "0001-01-01T00:00:00Z",
        "uid": 0,
        "gid": 0,
        "content": [],
    }
    assert doc["nodes"][0]["content"] is None
    assert Tree.from_json(data).to_json() == data


def test_odd_names_round_trip_through_restic(tmp_path: Path, restic: Restic, password: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    odd = [b"\xff\xfe-latin1", b'quote"back\\slash', b"new\nline"]
    for raw in odd:
        (source / os.fsdecode(raw)).write_bytes(raw)
    repo_dir = tmp_path / "repo"
    restic(repo_dir, "init")
    restic(repo_dir, "backup", str(source))

    repo = Repository.open(LocalBackend(repo_dir), password)
    [(_, snapshot)] = repo.list_snapshots()
    tree = repo.load_tree(snapshot.tree)
    for part in source.parts[1:]:
        subtree = next(n.subtree for n in tree.nodes if n.name == part)
        assert subtree is not None
        tree = repo.load_tree(subtree)
    assert {os.fsencode(n.name) for n in tree.nodes} == set(odd)

    # Written back by Lifeboat, restic restores the same bytes.
    root = repo.save_tree(tree)
    snapshot_id = repo.save_snapshot(Snapshot.new(root, ["/copy"]))
    target = tmp_path / "restored"
    restic(repo_dir, "restore", snapshot_id, "--target", str(target))
    assert {os.fsencode(p.name) for p in target.iterdir()} == set(odd)
    for raw in odd:
        assert (target / os.fsdecode(raw)).read_bytes() == raw
    repo.close()


def test_a_node_read_from_json_is_written_back_as_read() -> None:
    # An incremental backup writes unchanged parent nodes again; what restic wrote (even
    # fields Lifeboat does not model) survives, and copies encode the same JSON.
    doc = {
        "name": "f\\xff",
        "type": "file",
        "mode": 420,
        "mtime": "2026-11-26T03:54:49.760299445+01:00",
        "atime": "2026-11-26T03:54:49.760299445+01:00",
        "ctime": "2026-11-26T03:54:49.760299445+01:00",
        "uid": 1000,
        "gid": 1000,
        "size": 3,
        "content": ["ab" * 32],
        "generic_attributes": {"windows.creation_time": "AQI="},
    }
    node = Node.from_json_dict(doc)
    assert node.name == "f\udcff"
    assert node.to_json_dict() == doc
    copied = node.model_copy()
    assert copied == node
    assert copied.to_json_dict() == {k: v for k, v in doc.items() if k != "generic_attributes"}
    # A file whose content was null is written with [] (restic's checker wants a list).
    null_content = Node.from_json_dict({**doc, "content": None})
    assert null_content.to_json_dict()["content"] == []
