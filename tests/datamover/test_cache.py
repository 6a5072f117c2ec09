"""The local cache: remembered key files (key derivation started early), tree packs, and
index and snapshot files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datamover import keys
from datamover.api import backup
from datamover.backend.base import FileInfo, FileType
from datamover.backend.local import LocalBackend
from datamover.blobs import BlobType
from datamover.cache import RepositoryCache
from datamover.crypto import MasterKey
from datamover.earlykey import EarlyKey
from datamover.errors import WrongPasswordError
from datamover.jobs import BackupOptions
from datamover.kdf import ScryptParams
from datamover.keys import create_key
from datamover.repository import Repository

from .conftest import FAST_KDF, PASSWORD


class CountingBackend(LocalBackend):
    """A local backend that counts key listings and pack reads."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.key_listings = 0
        self.pack_loads: list[str] = []
        self.whole_pack_loads = 0
        self.file_loads: list[tuple[FileType, str]] = []

    def list(self, file_type: FileType) -> Iterator[FileInfo]:
        if file_type is FileType.KEYS:
            self.key_listings += 1
        return super().list(file_type)

    def load(self, file_type: FileType, name: str, offset: int = 0, length: int = -1) -> bytes:
        if file_type is FileType.DATA:
            self.pack_loads.append(name)
            self.whole_pack_loads += offset == 0 and length == -1
        if file_type in (FileType.INDEX, FileType.SNAPSHOTS):
            self.file_loads.append((file_type, name))
        return super().load(file_type, name, offset, length)


@pytest.fixture
def cache(tmp_path: Path) -> RepositoryCache:
    return RepositoryCache(tmp_path / "cache", "the repository string")


def _init(repo_dir: Path, cache: RepositoryCache) -> Repository:
    return Repository.init(
        LocalBackend(repo_dir), PASSWORD, pack_size=256 * 1024, kdf_params=FAST_KDF, cache=cache
    )


def test_the_remembered_key_file_opens_without_listing_keys(
    tmp_path: Path, cache: RepositoryCache
) -> None:
    created = _init(tmp_path / "repo", cache)
    created.close()
    assert (cache.root / "CACHEDIR.TAG").exists()
    backend = CountingBackend(tmp_path / "repo")
    early = EarlyKey.start(cache, PASSWORD)
    assert early is not None

    opened = Repository.open(backend, PASSWORD, cache=cache, early_key=early)

    assert backend.key_listings == 0
    assert opened.key.encrypt == created.key.encrypt
    opened.close()


def test_a_stale_or_damaged_remembered_key_file_is_not_trusted(
    tmp_path: Path, cache: RepositoryCache
) -> None:
    created = _init(tmp_path / "repo", cache)
    created.close()
    backend = CountingBackend(tmp_path / "repo")
    old_name, _ = cache.key_file() or ("", b"")
    # The key is rotated: a new key file, and the remembered one removed.
    new_name, new_document = create_key(backend, PASSWORD, created.key, FAST_KDF)
    backend.remove(FileType.KEYS, old_name)

    Repository.open(backend, PASSWORD, cache=cache).close()

    assert backend.key_listings == 1
    assert cache.key_file() == (new_name, new_document)
    # A damaged cache entry under the right name: the repository's file is what counts.
    cache.remember_key_file(new_name, b"{garbage")
    Repository.open(backend, PASSWORD, cache=cache).close()
    assert cache.key_file() == (new_name, new_document)


def test_a_wrong_password_is_refused_with_a_remembered_key_file(
    tmp_path: Path, cache: RepositoryCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused once: the remembered key file, tried by the early derivation, is not
    derived again when every key file is tried."""
    _init(tmp_path / "repo", cache).close()
    derivations: list[bytes] = []
    real_derive = keys.derive_key

    def counting(password: str, salt: bytes, params: ScryptParams) -> MasterKey:
        derivations.append(salt)
        return real_derive(password, salt, params)

    monkeypatch.setattr(keys, "derive_key", counting)
    with pytest.raises(WrongPasswordError):
        Repository.open(LocalBackend(tmp_path / "repo"), "not the password", cache=cache)
    assert derivations == []
    # Another key file, not remembered, is still tried.
    create_key(LocalBackend(tmp_path / "repo"), "second password", MasterKey.random(), FAST_KDF)
    derivations.clear()
    with pytest.raises(WrongPasswordError):
        Repository.open(LocalBackend(tmp_path / "repo"), "not the password", cache=cache)
    assert len(derivations) == 1


def test_trees_come_from_cached_tree_packs(tmp_path: Path, cache: RepositoryCache) -> None:
    source = tmp_path / "source"
    for directory in ("a", "b/c", "d"):
        (source / directory).mkdir(parents=True)
        (source / directory / "file").write_text(directory * 100)
    repo = _init(tmp_path / "repo", cache)
    result = backup(repo, str(source), BackupOptions())
    repo.close()
    tree_packs = {
        location.pack_id.hex() for location in repo.index if location.blob.type is BlobType.TREE
    }
    cached = {path.name for path in (cache.root / repo.config.id / "data").rglob("*")}
    assert tree_packs and tree_packs <= cached
    assert all(
        location.pack_id.hex() not in cached
        for location in repo.index
        if location.blob.type is BlobType.DATA
    )

    backend = CountingBackend(tmp_path / "repo")
    reopened = Repository.open(backend, PASSWORD, cache=cache)
    root = reopened.load_tree(bytes.fromhex(result.tree))
    assert [node.name for node in root.nodes] == ["a", "b", "d"]
    assert backend.pack_loads == []

    # A damaged cached pack is dropped, and the tree read from the repository.
    (location,) = repo.index.lookup(BlobType.TREE, bytes.fromhex(result.tree))
    pack = location.pack_id.hex()
    cached_pack = cache.root / repo.config.id / "data" / pack[:2] / pack
    damaged = bytearray(cached_pack.read_bytes())
    damaged[location.blob.offset + 20] ^= 0xFF
    cached_pack.write_bytes(bytes(damaged))
    again = Repository.open(backend, PASSWORD, cache=cache)
    assert again.load_tree(bytes.fromhex(result.tree)) == root
    assert backend.pack_loads == [pack]
    assert not cached_pack.exists()
    again.close()
    reopened.close()


def test_packs_the_index_no_longer_names_leave_the_cache(
    tmp_path: Path, cache: RepositoryCache
) -> None:
    repo = _init(tmp_path / "repo", cache)
    repo.close()
    gone = "ab" * 32
    cache.save_pack(gone, b"a pack that gc deleted")
    assert (cache.root / repo.config.id / "data" / "ab" / gone).exists()
    # Another process's pack being written: not ours to delete.
    being_written = cache.root / repo.config.id / "data" / "ab" / f".{gone}-tmp-x"
    being_written.write_bytes(b"half a pack")

    Repository.open(LocalBackend(tmp_path / "repo"), PASSWORD, cache=cache).close()

    assert not (cache.root / repo.config.id / "data" / "ab" / gone).exists()
    assert being_written.exists()


def test_index_and_snapshot_files_come_from_the_cache_until_they_are_gone(
    tmp_path: Path, cache: RepositoryCache
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("content")
    repo = _init(tmp_path / "repo", cache)
    first = backup(repo, str(source), BackupOptions())
    second = backup(repo, str(source), BackupOptions(tags=("second",)))
    repo.close()
    backend = CountingBackend(tmp_path / "repo")
    index_names = sorted(info.name for info in backend.list(FileType.INDEX))
    cached_dir = cache.root / repo.config.id

    # The first open downloads what the writing session did not keep; the next reads none.
    Repository.open(backend, PASSWORD, cache=cache).list_snapshots()
    assert sorted(name for kind, name in backend.file_loads if kind is FileType.INDEX) == (
        index_names
    )
    backend.file_loads.clear()
    reopened = Repository.open(backend, PASSWORD, cache=cache)
    assert [sid for sid, _ in reopened.list_snapshots()] == [first.snapshot_id, second.snapshot_id]
    assert backend.file_loads == []

    # A damaged copy is fetched again; a forgotten snapshot leaves the cache.
    damaged = cached_dir / "snapshots" / second.snapshot_id
    damaged.write_bytes(b"not the snapshot")
    reopened.remove_snapshot(first.snapshot_id)
    again = Repository.open(backend, PASSWORD, cache=cache)
    assert [sid for sid, _ in again.list_snapshots()] == [second.snapshot_id]
    assert backend.file_loads == [(FileType.SNAPSHOTS, second.snapshot_id)]
    assert sorted(p.name for p in (cached_dir / "snapshots").iterdir()) == [second.snapshot_id]
    assert sorted(p.name for p in (cached_dir / "index").iterdir()) == index_names
    again.close()
    reopened.close()


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    """Packs are then read in ranges, as without a cache, not downloaded whole each time."""
    source = tmp_path / "source"
    for directory in ("a", "b", "c"):
        (source / directory).mkdir(parents=True)
        (source / directory / "file").write_text(directory)
    repo = Repository.init(LocalBackend(tmp_path / "repo"), PASSWORD, kdf_params=FAST_KDF)
    result = backup(repo, str(source), BackupOptions())
    repo.close()
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache would be")
    cache = RepositoryCache(blocked, "the repository string")
    backend = CountingBackend(tmp_path / "repo")

    reopened = Repository.open(backend, PASSWORD, cache=cache)
    root = reopened.load_tree(bytes.fromhex(result.tree))
    for node in root.nodes:
        assert node.subtree is not None
        reopened.load_tree(node.subtree)
    reopened.close()

    assert not cache.writable
    assert len(backend.pack_loads) == 4 and backend.whole_pack_loads == 0
