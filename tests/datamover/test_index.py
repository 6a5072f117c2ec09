"""Index files: restic's JSON, splitting, and the master index built from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datamover import index as index_module
from datamover.backend.base import FileType
from datamover.backend.local import LocalBackend
from datamover.blobs import BlobType, PackedBlob
from datamover.crypto import MasterKey
from datamover.errors import InvalidRepositoryDataError
from datamover.index import MasterIndex, encode_index, save_index_files
from datamover.unpacked import save_unpacked


def pack(n: int, blobs: int) -> tuple[bytes, list[PackedBlob]]:
    entries = [
        PackedBlob(BlobType.DATA, bytes([n, i]) * 16, i * 100, 100, 250 if i % 2 else 0)
        for i in range(blobs)
    ]
    return bytes([n]) * 32, entries


def test_index_json_matches_restic_and_reads_legacy_arrays(tmp_path: Path) -> None:
    pack_id, blobs = pack(1, 2)
    document = encode_index({pack_id: blobs}, supersedes=["ab" * 32])
    doc = json.loads(document)
    assert doc["supersedes"] == ["ab" * 32]
    assert doc["packs"][0]["blobs"][0] == {
        "id": blobs[0].id.hex(),
        "type": "data",
        "offset": 0,
        "length": 100,
    }
    assert doc["packs"][0]["blobs"][1]["uncompressed_length"] == 250
    legacy = json.dumps(doc["packs"]).encode()
    key = MasterKey.random()
    for document_format, superseded in ((document, {"ab" * 32}), (legacy, set())):
        backend = LocalBackend(tmp_path / f"repo-{len(superseded)}")
        name = save_unpacked(backend, key, FileType.INDEX, document_format)
        master = MasterIndex()
        master.load(backend, key)
        assert master.packs() == {pack_id: blobs}
        assert (master.index_files, master.superseded) == ({name}, superseded)


def test_large_indexes_are_split_and_loaded_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "MAX_BLOBS_PER_INDEX_FILE", 10)
    backend = LocalBackend(tmp_path)
    key = MasterKey.random()
    packs = dict(pack(n, 4) for n in range(7))
    names = save_index_files(backend, key, packs)
    assert len(names) == 4  # 2 packs (8 blobs) per file
    assert sorted(names) == sorted(info.name for info in backend.list(FileType.INDEX))

    master = MasterIndex()
    master.load(backend, key)
    assert master.packs() == packs
    assert master.blob_count(BlobType.DATA) == 28
    [location] = master.lookup(BlobType.DATA, packs[bytes([3]) * 32][2].id)
    assert location.pack_id == bytes([3]) * 32
    assert master.locate(BlobType.DATA, packs[bytes([3]) * 32][2].id) == location
    assert master.locate(BlobType.DATA, b"\xff" * 32) is None
    assert master.memory() == 28 * index_module._BYTES_PER_RECORD


def test_a_pack_listed_again_adds_only_what_is_new_and_copies_keep_every_location(
    tmp_path: Path,
) -> None:
    backend = LocalBackend(tmp_path)
    key = MasterKey.random()
    pack_id, blobs = pack(1, 3)
    other_id, others = pack(2, 1)
    copy = others[0]._replace(id=blobs[0].id)  # the same blob, stored in a second pack
    save_index_files(backend, key, {pack_id: blobs[:2]})
    save_index_files(backend, key, {pack_id: blobs, other_id: [copy]})

    master = MasterIndex()
    master.load(backend, key)
    assert master.packs() == {pack_id: blobs, other_id: [copy]}
    assert master.blob_count(BlobType.DATA) == 3 and master.has_pack(other_id)
    assert [loc.pack_id for loc in master.lookup(BlobType.DATA, blobs[0].id)] == [pack_id, other_id]
    assert master.locate(BlobType.DATA, blobs[0].id) == (pack_id, blobs[0])
    assert sorted(location.blob for location in master) == sorted(blobs)
    assert not master.has(BlobType.TREE, blobs[0].id)


@pytest.mark.parametrize(
    ("field", "value"),
    [("offset", -1), ("length", "100"), ("type", "neither"), ("id", "not hex")],
)
def test_an_invalid_index_file_is_named(tmp_path: Path, field: str, value: object) -> None:
    backend = LocalBackend(tmp_path)
    key = MasterKey.random()
    pack_id, blobs = pack(1, 2)
    doc = json.loads(encode_index({pack_id: blobs}))
    doc["packs"][0]["blobs"][1][field] = value
    name = save_unpacked(backend, key, FileType.INDEX, json.dumps(doc).encode())

    master = MasterIndex()
    with pytest.raises(InvalidRepositoryDataError, match=f"index {name} is invalid"):
        master.load(backend, key)
    assert master.packs() == {}  # nothing of that file was added
