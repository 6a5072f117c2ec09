"""Content-defined chunking of a byte stream with FastCDC.

The stream is cut through a bounded buffer instead of `pyfastcdc`'s own `cut_file` (which
maps the whole file and so counts every page read into the RSS) or `cut_stream` (which
always allocates twice the maximal chunk size, even for a 1 KiB file).

A chunk is only emitted when at least `max_size` bytes follow its start in the buffer, or at
the end of the stream: FastCDC decides a cut from the next `max_size` bytes alone, so the cut
points are the same whatever the buffer size, and identical data gives identical blobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyfastcdc
from pydantic import BaseModel, ConfigDict, Field, model_validator

KiB = 1024
MiB = 1024 * KiB

ReadInto = Callable[[memoryview], int]
"""Fills the given buffer from the start, returns how many bytes it wrote (0 at the end)."""


class ChunkerParams(BaseModel):
    """Chunk size bounds. The defaults give chunks like restic's (avg about 1.4 MiB)."""

    model_config = ConfigDict(frozen=True)

    min_size: int = Field(default=512 * KiB, ge=64, le=1 * MiB)
    avg_size: int = Field(default=1 * MiB, ge=256, le=4 * MiB)
    max_size: int = Field(default=8 * MiB, ge=1 * KiB, le=16 * MiB)

    @model_validator(mode="after")
    def _ordered(self) -> ChunkerParams:
        if not self.min_size <= self.avg_size <= self.max_size:
            raise ValueError("chunk sizes must satisfy min_size <= avg_size <= max_size")
        return self

    @property
    def buffer_size(self) -> int:
        """The largest read buffer one stream needs: two maximal chunks."""
        return 2 * self.max_size


class Chunker:
    """Cuts streams into chunks; one instance may serve many threads (the cut is stateless)."""

    def __init__(self, params: ChunkerParams | None = None) -> None:
        self.params = params or ChunkerParams()
        self._cdc = pyfastcdc.FastCDC(
            self.params.avg_size,
            min_size=self.params.min_size,
            max_size=self.params.max_size,
        )

    def buffer_size_for(self, size_hint: int) -> int:
        """Read buffer for a stream of about `size_hint` bytes: small files need little."""
        return max(1, min(self.params.buffer_size, size_hint + 1))

    def chunks(self, read_into: ReadInto, size_hint: int) -> Iterator[memoryview]:
        """Yield the chunks of a stream as views into a buffer that is reused.

        Each view is valid only until the next one is requested; copy what must outlive it.
        """
        capacity = self.params.buffer_size
        max_size = self.params.max_size
        buf = bytearray(self.buffer_size_for(size_hint))
        filled = 0
        eof = False
        while True:
            view = memoryview(buf)
            while not eof and filled < len(buf):
                n = read_into(view[filled:])
                if n <= 0:
                    eof = True
                else:
                    filled += n
            if not eof and len(buf) < capacity:
                # The stream is longer than announced: grow to the full buffer.
                buf = buf + bytes(capacity - len(buf))
                continue
            if filled == 0:
                return
            consumed = 0
            for chunk in self._cdc.cut_buf(view[:filled]):
                if not eof and filled - chunk.offset < max_size:
                    break
                yield chunk.data
                consumed = chunk.offset + chunk.length
            if eof and consumed == filled:
                return
            rest = filled - consumed
            view[:rest] = view[consumed:filled]
            filled = rest
