"""Blob types and where a blob lives inside a pack."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from datamover.crypto import OVERHEAD


class BlobType(StrEnum):
    DATA = "data"
    TREE = "tree"


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
