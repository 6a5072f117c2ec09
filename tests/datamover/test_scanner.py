"""Node metadata from `lstat`: the fast JSON of a small file's node is the node's JSON."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from datamover.scanner import file_node, file_node_document
from datamover.tree import Tree, encode_tree
from datamover.treejson import EncodedFile


@pytest.mark.parametrize(
    ("name", "data", "mode"),
    [
        ("plain.txt", b"hello", 0o644),
        ("empty", b"", 0o600),
        ("caf\u00e9 \u2603.bin", b"x" * 1000, 0o4755),
        ('quote"and\\back\nslash', b"y", 0o000),
        (os.fsdecode(b"not-utf8-\xff\xfe"), b"z", 0o777),
    ],
)
def test_file_node_document_is_the_nodes_json(
    tmp_path: Path, name: str, data: bytes, mode: int
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_600_000_000_000_000_000))
    path.chmod(mode)
    st = os.lstat(path)
    content = [os.urandom(32)] if data else []

    document = file_node_document(name, st, len(data), content)

    assert orjson.loads(document) == file_node(name, st, content, len(data)).to_json_dict()


def test_a_tree_of_encoded_files_is_the_same_blob(tmp_path: Path) -> None:
    nodes, encoded = [], []
    for name in ("b", "a", "\u00e9", "A"):
        (tmp_path / name).write_bytes(name.encode())
        st = os.lstat(tmp_path / name)
        content = [os.urandom(32)]
        nodes.append(file_node(name, st, content, st.st_size))
        document = file_node_document(name, st, st.st_size, content)
        encoded.append(EncodedFile(name, st.st_size, content, document))

    mixed = encode_tree([*encoded[:2], *nodes[2:]])

    assert mixed == encode_tree(encoded) == Tree(nodes=nodes).to_json()
    assert encode_tree([]) == Tree(nodes=[]).to_json() == b'{"nodes":[]}\n'
    assert encoded[0].to_json_dict() == nodes[0].to_json_dict()
