"""Blob types, where a blob lives inside a pack, and how a stored blob is opened."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from datamover import compression
from datamover.crypto import OVERHEAD, AuthenticationError, MasterKey
from datamover.errors import BlobCorruptedError
from datamover.ids import hash_bytes


class BlobType(StrEnum):
    DATA = "data"
    TREE = "tree"


new_tuple = tuple.__new__
"""A named tuple from its fields' tuple, without the Python call of its ``__new__``: one
or two are made per blob by the index, a pack being filled and the pending blobs."""


class PackedBlob(NamedTuple):
    """A blob's entry in a pack header or index: ``length`` is the encrypted length;
    ``uncompressed_length`` is 0 for a blob stored without compression."""

    type: BlobType
    id: bytes
    offset: int
    length: int
    uncompressed_length: int

    @property
    def compressed(self) -> bool:
        return self.uncompressed_length != 0

    @property
    def plaintext_length(self) -> int:
        """Length of the blob's data once decrypted and decompressed."""
        return self.uncompressed_length or self.length - OVERHEAD


def decode_blob(
    key: MasterKey, pack_hex: str, blob: PackedBlob, sealed: bytes | memoryview
) -> bytes:
    """Decrypt, decompress and verify one stored blob; ``sealed`` may be a view into a
    loaded pack, so callers need not copy each blob out of it."""
    return open_blob(key, pack_hex, blob.id, blob.length, blob.uncompressed_length, sealed)


def open_blob(
    key: MasterKey,
    pack_hex: str,
    blob_id: bytes,
    length: int,
    uncompressed_length: int,
    sealed: bytes | memoryview,
) -> bytes:
    """`decode_blob` from a blob's fields, for callers holding them as a plain tuple (a
    restore's worker processes, once per small file)."""
    if len(sealed) != length:
        raise BlobCorruptedError(blob_id.hex(), pack_hex, "the pack file is truncated")
    try:
        plaintext = key.open(sealed)
    except AuthenticationError as exc:
        raise BlobCorruptedError(blob_id.hex(), pack_hex, "authentication failed") from exc
    if uncompressed_length:
        try:
            plaintext = compression.decompress(plaintext, uncompressed_length)
        except Exception as exc:
            raise BlobCorruptedError(blob_id.hex(), pack_hex, f"cannot decompress: {exc}") from exc
        if len(plaintext) != uncompressed_length:
            raise BlobCorruptedError(blob_id.hex(), pack_hex, "wrong uncompressed length")
    if hash_bytes(plaintext) != blob_id:
        raise BlobCorruptedError(blob_id.hex(), pack_hex, "content does not match its id")
    return plaintext
