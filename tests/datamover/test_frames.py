"""Frames over a pipe: whole frames of any size, raw bytes after them, and a clear end."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from datamover.frames import FrameReader, FrameWriter


@pytest.fixture
def pipe() -> Iterator[tuple[FrameReader, FrameWriter]]:
    read_end, write_end = os.pipe()
    reader, writer = FrameReader(read_end), FrameWriter(write_end)
    yield reader, writer
    reader.close()
    writer.close()


def _write_in_background(writer: FrameWriter, *frames: tuple[bytes, ...]) -> threading.Thread:
    def write() -> None:
        for parts in frames:
            writer.write(*parts)
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_frames_larger_than_the_pipe_arrive_whole_and_in_order(
    pipe: tuple[FrameReader, FrameWriter],
) -> None:
    reader, writer = pipe
    big, small = os.urandom(5 * 1024 * 1024 + 3), b"x"
    writing = _write_in_background(writer, (big,), (small,), (b"",))

    assert bytes(reader.frame()) == big
    assert bytes(reader.frame()) == small
    assert bytes(reader.frame()) == b""
    with pytest.raises(EOFError):
        reader.frame()
    writing.join()


def test_raw_bytes_follow_their_frame(pipe: tuple[FrameReader, FrameWriter]) -> None:
    """A frame may announce bytes sent after it as they are (a request's buffers)."""
    reader, writer = pipe
    first, second = os.urandom(2 * 1024 * 1024), os.urandom(100)
    announce = len(first).to_bytes(8, "little") + len(second).to_bytes(8, "little")
    writing = _write_in_background(writer, (announce, first, second), (b"next",))

    frame = bytes(reader.frame())
    sizes = [int.from_bytes(frame[i : i + 8], "little") for i in (0, 8)]
    assert bytes(reader.raw(sizes[0])) == first
    assert bytes(reader.raw(sizes[1])) == second
    assert bytes(reader.frame()) == b"next"
    writing.join()


def test_a_pipe_closed_inside_a_frame_says_so(pipe: tuple[FrameReader, FrameWriter]) -> None:
    reader, writer = pipe
    os.write(writer.fileno(), (1000).to_bytes(8, "little") + b"only this")
    writer.close()
    writer.close()  # (twice does nothing)

    with pytest.raises(EOFError, match="9 of 1000 bytes"):
        reader.frame()


def test_a_view_is_valid_until_the_next_read_and_a_larger_frame_leaves_it_alone(
    pipe: tuple[FrameReader, FrameWriter],
) -> None:
    """The reader reuses its buffer; growing it makes a new one, so a view a caller still
    holds keeps its bytes (and resizing never fails because of it)."""
    reader, writer = pipe
    writing = _write_in_background(writer, (b"a" * 10,), (b"b" * 100_000,))

    first = reader.frame()
    second = reader.frame()

    assert bytes(first) == b"a" * 10
    assert bytes(second) == b"b" * 100_000
    writing.join()


def test_raw_bytes_a_little_longer_than_before_reuse_the_buffer(
    pipe: tuple[FrameReader, FrameWriter],
) -> None:
    """A restore's ranges are whole packs, each a few bytes longer or shorter than the
    last; a buffer allocated anew for each new largest one faulted in a pack's worth of
    fresh pages every time."""
    reader, writer = pipe
    payloads = [os.urandom(size) for size in (16_779_074, 16_782_957, 16_786_834, 1000)]
    writing = _write_in_background(writer, *((b"head", payload) for payload in payloads))

    buffers = []
    for payload in payloads:
        assert bytes(reader.frame()) == b"head"
        view = reader.raw(len(payload))
        assert bytes(view) == payload
        buffers.append(view.obj)
    writing.join()

    assert all(buffer is buffers[0] for buffer in buffers)
