"""Whole-file encrypted JSON documents (config, index, snapshots, locks).

Each is ``IV || CIPHERTEXT || MAC``; in format version 2 the plaintext is a version byte
and zstd-compressed JSON (the config stays raw JSON). Files other than the config are
named by the SHA-256 of their stored bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datamover import compression
from datamover.backend.base import Backend, FileType
from datamover.crypto import AuthenticationError, MasterKey
from datamover.errors import InvalidRepositoryDataError
from datamover.ids import hash_bytes

if TYPE_CHECKING:
    from datamover.cache import RepositoryCache


def save_unpacked(backend: Backend, key: MasterKey, file_type: FileType, document: bytes) -> str:
    """Store a JSON document; returns its storage id (the config is always named ``config``)."""
    plaintext = document if file_type is FileType.CONFIG else compression.encode_unpacked(document)
    sealed = key.seal(plaintext)
    name = "config" if file_type is FileType.CONFIG else hash_bytes(sealed).hex()
    backend.save(file_type, name, sealed)
    return name


def load_unpacked(
    backend: Backend,
    key: MasterKey,
    file_type: FileType,
    name: str,
    cache: RepositoryCache | None = None,
) -> bytes:
    """The JSON document of a stored file, after checking its name, MAC and encoding;
    through the local `cache` if given (index and snapshot files: named by their hash, they
    never change). A cached copy that fails the checks is dropped and downloaded again;
    only a download that passes them is kept."""
    if cache is not None:
        cached = cache.read_file(file_type.value, name)
        if cached is not None:
            try:
                return decode_unpacked(key, file_type, name, cached)
            except InvalidRepositoryDataError:
                cache.discard_file(file_type.value, name)  # damaged locally
    sealed = backend.load(file_type, name)
    document = decode_unpacked(key, file_type, name, sealed)
    if cache is not None:
        cache.save_file(file_type.value, name, sealed)
    return document


def decode_unpacked(key: MasterKey, file_type: FileType, name: str, sealed: bytes) -> bytes:
    where = f"{file_type.value}/{name}"
    if file_type is not FileType.CONFIG and hash_bytes(sealed).hex() != name:
        raise InvalidRepositoryDataError(f"{where}: content does not match its name")
    try:
        plaintext = key.open(sealed)
    except AuthenticationError as exc:
        raise InvalidRepositoryDataError(f"{where}: {exc}") from exc
    try:
        return compression.decode_unpacked(plaintext)
    except Exception as exc:
        raise InvalidRepositoryDataError(f"{where}: cannot decompress: {exc}") from exc
