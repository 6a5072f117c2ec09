"""Ids of blobs and repository files: SHA-256 digests, written as lower-case hex."""

from __future__ import annotations

import hashlib
import os

ID_SIZE = 32
"""Bytes in an id (SHA-256)."""


def hash_bytes(data: bytes | bytearray | memoryview) -> bytes:
    """The id of `data`: its SHA-256 digest (hashlib releases the GIL on large inputs)."""
    return hashlib.sha256(data).digest()


def to_hex(blob_id: bytes) -> str:
    return blob_id.hex()


def from_hex(text: str) -> bytes:
    """Parse a full 64-digit hex id; anything else is a ValueError."""
    if len(text) != 2 * ID_SIZE:
        raise ValueError(f"invalid id {text!r}: expected {2 * ID_SIZE} hex digits")
    return bytes.fromhex(text)


def random_id() -> bytes:
    return os.urandom(ID_SIZE)


def short(blob_id: bytes | str) -> str:
    """The 8-digit prefix restic prints for ids."""
    text = blob_id if isinstance(blob_id, str) else blob_id.hex()
    return text[:8]
