"""`HexId`, the pydantic field of a 32-byte id (apart from `datamover.jsonfmt`, which the
worker processes import without pydantic)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from datamover.ids import from_hex


def _validate_id(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        if len(value) != 32:
            raise ValueError("an id has 32 bytes")
        return bytes(value)
    if isinstance(value, str):
        return from_hex(value)
    raise ValueError(f"cannot read an id from {type(value).__name__}")


HexId = Annotated[
    bytes,
    PlainValidator(_validate_id),
    PlainSerializer(lambda value: value.hex(), return_type=str, when_used="json"),
]
"""A 32-byte id: bytes in Python, lower-case hex in JSON."""
