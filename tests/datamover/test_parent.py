"""Unchanged files recognised from the parent snapshot's node JSON, as restic's rule says."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from datamover.gotime import GoTime
from datamover.jsonfmt import dumps
from datamover.modes import NodeType
from datamover.parent import ParentTree, unchanged_file
from datamover.scanner import file_node
from datamover.treejson import EncodedFile

BLOB = os.urandom(32)


def _parent_doc(path: Path) -> dict[str, object]:
    """The file's node as a parent snapshot stored it (read back from its JSON)."""
    st = os.lstat(path)
    return dict(orjson.loads(dumps(file_node(path.name, st, [BLOB], st.st_size).to_json_dict())))


def _stored(blob: bytes) -> bool:
    return blob == BLOB


def test_an_unchanged_file_keeps_the_json_it_was_read_as(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    doc = _parent_doc(path)

    found = unchanged_file("f", os.lstat(path), [doc], _stored)

    assert isinstance(found, EncodedFile)
    assert found.to_json_dict() is doc and found.content == [BLOB] and found.size == 4
    assert orjson.loads(found.json) == doc


def test_changed_metadata_keeps_the_content_but_writes_new_json(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    doc = _parent_doc(path)
    path.chmod(0o600)

    found = unchanged_file("f", os.lstat(path), [doc], _stored)

    assert found is not None and found.content == [BLOB]
    assert found.to_json_dict() is not doc
    assert found.to_json_dict() == {**doc, "mode": 0o600, "ctime": found.to_json_dict()["ctime"]}


def test_changed_content_size_mtime_or_missing_blobs_mean_reading_again(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    doc = _parent_doc(path)
    st = os.lstat(path)
    assert unchanged_file("f", st, [doc], lambda blob: False) is None
    assert unchanged_file("f", st, [{**doc, "size": 5}], _stored) is None
    assert unchanged_file("f", st, [{**doc, "content": ["zz"]}], _stored) is None
    assert unchanged_file("f", st, [{**doc, "content": None}], _stored) is None
    assert unchanged_file("f", st, [{**doc, "type": "dir"}], _stored) is None
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert unchanged_file("f", os.lstat(path), [doc], _stored) is None
    # A later candidate (an interrupted run's node) is asked when the first says no.
    assert unchanged_file("f", os.lstat(path), [doc, _parent_doc(path)], _stored) is not None


def test_another_inode_with_the_same_ctime_or_another_utc_offset_is_unchanged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    st = os.lstat(path)
    doc = _parent_doc(path)
    east = GoTime(st.st_mtime_ns, 2 * 3600).format()  # the same instant, written at +02:00
    assert east.endswith("+02:00")

    assert unchanged_file("f", st, [{**doc, "inode": 1}], _stored) is not None
    assert unchanged_file("f", st, [{**doc, "inode": 1, "ctime": east}], _stored) is not None
    moved = {**doc, "inode": 1, "ctime": "2001-01-01T00:00:00Z"}
    assert unchanged_file("f", st, [moved], _stored) is None
    assert unchanged_file("f", st, [{**doc, "mtime": east}], _stored) is not None
    assert unchanged_file("f", st, [{**doc, "mtime": "yesterday"}], _stored) is None


def test_a_parent_tree_is_reused_only_when_every_node_is_kept(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(name.encode())
    docs = [_parent_doc(tmp_path / "a"), _parent_doc(tmp_path / "b")]
    docs.append({"name": "d", "type": "dir", "mode": 2147484141, "subtree": BLOB.hex()})
    tree = ParentTree(b"tree", docs)

    kept = [unchanged_file(n, os.lstat(tmp_path / n), [tree.get(n)], _stored) for n in "ab"]
    directory = tree.node("d", NodeType.DIR)

    assert directory is not None and tree.subtrees() == {"d": BLOB}
    assert tree.node("d", NodeType.SYMLINK) is None and tree.node("x", NodeType.DIR) is None
    assert tree.kept_whole([*kept, directory])  # type: ignore[list-item]
    assert not tree.kept_whole(kept)  # type: ignore[arg-type]
    rewritten = EncodedFile("b", 1, [BLOB], dumps(docs[1]))
    assert not tree.kept_whole([kept[0], rewritten, directory])  # type: ignore[list-item]
