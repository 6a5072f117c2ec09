"""zstd for blobs and for the "unpacked" JSON files of repository format version 2.

zstandard's compressor and decompressor objects are not thread-safe, so each thread keeps
its own; compression runs in the caller's thread and releases the GIL.
"""

from __future__ import annotations

import threading

import zstandard

DEFAULT_LEVEL = 3
"""Close to restic's "auto" mode (klauspost/compress SpeedDefault)."""

UNPACKED_ZSTD_VERSION = 2
"""Version byte in front of a zstd-compressed JSON file; '{' or '[' mean raw JSON."""

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = {}
        _local.compressors = cache
    compressor = cache.get(level)
    if compressor is None:
        compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
        cache[level] = compressor
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = zstandard.ZstdDecompressor()
        _local.decompressor = decompressor
    return decompressor


def compress(data: bytes | memoryview, level: int = DEFAULT_LEVEL) -> bytes:
    return _compressor(level).compress(data)


def decompress(data: bytes, expected_size: int) -> bytes:
    """Decompress a blob; the size is known from the index, so no frame header is needed."""
    return _decompressor().decompress(data, max_output_size=expected_size)


def compress_if_smaller(data: bytes, level: int = DEFAULT_LEVEL) -> bytes | None:
    """The compressed blob, or None when compression does not save anything."""
    packed = compress(data, level)
    return packed if len(packed) < len(data) else None


def encode_unpacked(document: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    """Plaintext of a v2 index/snapshot/lock file: version byte 2 and zstd-compressed JSON."""
    return bytes((UNPACKED_ZSTD_VERSION,)) + compress(document, level)


def decode_unpacked(plaintext: bytes) -> bytes:
    """The JSON inside an unpacked file, raw (v1 style) or compressed (v2)."""
    if not plaintext or plaintext[:1] in (b"{", b"["):
        return plaintext
    if plaintext[0] != UNPACKED_ZSTD_VERSION:
        raise ValueError(f"unsupported encoding version {plaintext[0]}")
    reader = _decompressor().stream_reader(plaintext[1:])
    with reader:
        return reader.read()
