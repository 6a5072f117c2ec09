"""Pack files: encrypted blobs back to back, then the encrypted header and its length.

Header entries (repository format v2): type byte (0 data, 1 tree, 2 compressed data,
3 compressed tree), encrypted length (uint32 LE), for compressed blobs the plaintext
length (uint32 LE), then the 32-byte plaintext SHA-256.
"""

from __future__ import annotations

import struct

from datamover.backend.base import Backend, FileType
from datamover.blobs import BlobType, PackedBlob, new_tuple
from datamover.crypto import OVERHEAD, AuthenticationError, MasterKey
from datamover.errors import PackCorruptedError
from datamover.ids import ID_SIZE

HEADER_LENGTH_SIZE = 4
PLAIN_ENTRY_SIZE = 1 + 4 + ID_SIZE
COMPRESSED_ENTRY_SIZE = 1 + 4 + 4 + ID_SIZE
MAX_HEADER_SIZE = 16 * 1024 * 1024 + HEADER_LENGTH_SIZE
EAGER_ENTRIES = 15
"""Header entries fetched with the first read, so small packs need a single request."""

_TYPE_CODES = {
    (BlobType.DATA, False): 0,
    (BlobType.TREE, False): 1,
    (BlobType.DATA, True): 2,
    (BlobType.TREE, True): 3,
}


def encode_header(blobs: list[PackedBlob]) -> bytes:
    parts: list[bytes] = []
    for blob in blobs:
        code = _TYPE_CODES[(blob.type, blob.compressed)]
        if blob.compressed:
            parts.append(struct.pack("<BII", code, blob.length, blob.uncompressed_length))
        else:
            parts.append(struct.pack("<BI", code, blob.length))
        parts.append(blob.id)
    return b"".join(parts)


def decode_header(header: bytes) -> list[PackedBlob]:
    """Parse a decrypted header; offsets follow from the lengths in order."""
    blobs: list[PackedBlob] = []
    pos = 0
    offset = 0
    while pos < len(header):
        code = header[pos]
        if code > 3:
            raise ValueError(f"invalid blob type {code} in pack header")
        blob_type = BlobType.TREE if code & 1 else BlobType.DATA
        if code >= 2:
            if pos + COMPRESSED_ENTRY_SIZE > len(header):
                raise ValueError("truncated pack header entry")
            length, uncompressed = struct.unpack_from("<II", header, pos + 1)
            blob_id = header[pos + 9 : pos + COMPRESSED_ENTRY_SIZE]
            pos += COMPRESSED_ENTRY_SIZE
        else:
            if pos + PLAIN_ENTRY_SIZE > len(header):
                raise ValueError("truncated pack header entry")
            (length,) = struct.unpack_from("<I", header, pos + 1)
            uncompressed = 0
            blob_id = header[pos + 5 : pos + PLAIN_ENTRY_SIZE]
            pos += PLAIN_ENTRY_SIZE
        blobs.append(PackedBlob(blob_type, bytes(blob_id), offset, length, uncompressed))
        offset += length
    return blobs


def header_size(blobs: list[PackedBlob]) -> int:
    """Bytes the finished header takes at the end of a pack (with MAC, IV and length)."""
    entries = sum(COMPRESSED_ENTRY_SIZE if b.compressed else PLAIN_ENTRY_SIZE for b in blobs)
    return entries + OVERHEAD + HEADER_LENGTH_SIZE


def expected_pack_size(blobs: list[PackedBlob]) -> int:
    return sum(b.length for b in blobs) + header_size(blobs)


class PackBuilder:
    """Collects encrypted blobs of one type; not thread-safe (the caller holds a lock)."""

    def __init__(self, blob_type: BlobType) -> None:
        self.blob_type = blob_type
        self.chunks: list[bytes] = []
        self.blobs: list[PackedBlob] = []
        self.size = 0

    def add(self, blob_id: bytes, sealed: bytes, uncompressed_length: int) -> None:
        fields = (self.blob_type, blob_id, self.size, len(sealed), uncompressed_length)
        self.blobs.append(new_tuple(PackedBlob, fields))
        self.chunks.append(sealed)
        self.size += len(sealed)

    def finish(self, key: MasterKey) -> list[bytes]:
        """The pack's chunks, ending with the sealed header and its length."""
        sealed_header = key.seal(encode_header(self.blobs))
        self.chunks.append(sealed_header)
        self.chunks.append(struct.pack("<I", len(sealed_header)))
        return self.chunks


def parse_pack_tail(key: MasterKey, pack_id: str, tail: bytes, pack_size: int) -> list[PackedBlob]:
    """Blobs of a pack from its last bytes, which must include the whole header."""
    if len(tail) < HEADER_LENGTH_SIZE + OVERHEAD:
        raise PackCorruptedError(pack_id, "file is too short")
    (sealed_length,) = struct.unpack_from("<I", tail, len(tail) - HEADER_LENGTH_SIZE)
    if sealed_length < OVERHEAD or sealed_length + HEADER_LENGTH_SIZE > pack_size:
        raise PackCorruptedError(pack_id, f"invalid header length {sealed_length}")
    if sealed_length + HEADER_LENGTH_SIZE > len(tail):
        raise ValueError("tail too short")
    start = len(tail) - HEADER_LENGTH_SIZE - sealed_length
    try:
        header = key.open(tail[start : len(tail) - HEADER_LENGTH_SIZE])
    except AuthenticationError as exc:
        raise PackCorruptedError(pack_id, "header does not authenticate") from exc
    try:
        blobs = decode_header(header)
    except ValueError as exc:
        raise PackCorruptedError(pack_id, str(exc)) from exc
    if expected_pack_size(blobs) != pack_size:
        raise PackCorruptedError(pack_id, "header does not match the file size")
    return blobs


def read_pack_header(
    backend: Backend, key: MasterKey, pack_id: str, pack_size: int | None = None
) -> list[PackedBlob]:
    """Read only the header of a stored pack (one ranged read, two for big headers)."""
    if pack_size is None:
        pack_size = backend.stat(FileType.DATA, pack_id).size
    eager = min(pack_size, EAGER_ENTRIES * COMPRESSED_ENTRY_SIZE + OVERHEAD + HEADER_LENGTH_SIZE)
    tail = backend.load(FileType.DATA, pack_id, pack_size - eager, eager)
    if len(tail) >= HEADER_LENGTH_SIZE:
        (sealed_length,) = struct.unpack_from("<I", tail, len(tail) - HEADER_LENGTH_SIZE)
        needed = sealed_length + HEADER_LENGTH_SIZE
        if eager < needed <= min(pack_size, MAX_HEADER_SIZE):
            tail = backend.load(FileType.DATA, pack_id, pack_size - needed, needed)
    return parse_pack_tail(key, pack_id, tail, pack_size)
