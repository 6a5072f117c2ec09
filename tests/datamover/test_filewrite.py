"""Writing restored files: metadata set only where it differs, files created with their mode
still written by whoever creates them, and one-blob files written from the spans of a pack
that hold them."""

from __future__ import annotations

import os
import pickle
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from datamover.blobs import BlobType
from datamover.crypto import MasterKey
from datamover.filewrite import (
    PlainPackedBlob,
    Span,
    WholeFile,
    WriterSettings,
    apply_metadata,
    create_file,
    write_whole_file,
    write_whole_files,
)
from datamover.ids import hash_bytes

TIMES = (1_600_000_000_000_000_001, 1_700_000_000_123_456_789)


def _calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every chown and chmod through a descriptor (and still make them)."""
    calls: list[str] = []
    for name in ("fchown", "fchmod"):
        real = getattr(os, name)

        def record(*args: Any, _name: str = name, _real: Any = real) -> None:
            calls.append(_name)
            _real(*args)

        monkeypatch.setattr(os, name, record)
    return calls


def test_metadata_a_new_file_already_has_is_not_set_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    previous = os.umask(0o022)
    try:
        fd = create_file(str(tmp_path / "f"), permissions=0o640)
    finally:
        os.umask(previous)
    calls = _calls(monkeypatch)
    try:
        apply_metadata(fd, 0o640, os.geteuid(), os.getegid(), TIMES, owner=True)
    finally:
        os.close(fd)

    assert calls == []
    got = (tmp_path / "f").stat()
    assert (stat.S_IMODE(got.st_mode), got.st_atime_ns, got.st_mtime_ns) == (0o640, *TIMES)


def test_metadata_that_differs_is_set_and_set_id_bits_outlive_the_chown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chown drops set-id bits, so the mode is set after it, even when it looked right."""
    owner = os.geteuid() == 0
    uid = 1234 if owner else os.geteuid()
    fd = create_file(str(tmp_path / "f"), permissions=0o755)
    os.fchmod(fd, 0o2755)
    calls = _calls(monkeypatch)
    try:
        apply_metadata(fd, 0o2755, uid, os.getegid(), TIMES, owner=owner)
    finally:
        os.close(fd)

    assert calls == (["fchown", "fchmod"] if owner else [])
    got = (tmp_path / "f").stat()
    assert (got.st_uid, stat.S_IMODE(got.st_mode)) == (uid, 0o2755)


def test_a_read_only_file_is_written_by_a_user_who_is_not_root() -> None:
    """Created with its final mode 0444, the file is still written through the descriptor
    that created it (a second open for writing would be refused to anyone but root)."""
    with tempfile.TemporaryDirectory() as where:  # (pytest's are closed to other users)
        directory = Path(where)
        directory.chmod(0o777)
        _write_read_only_file(directory)


def _write_read_only_file(directory: Path) -> None:
    as_nobody = os.geteuid() == 0
    meta = (0o444, 0, 0, None, "2020-01-02T03:04:05Z")
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            if as_nobody:
                os.setgid(65534)
                os.setuid(65534)
            write_whole_file(str(directory / "ro"), 5, b"hello", meta, owner=False)
            code = 0
        except BaseException as exc:
            os.write(2, f"{exc!r}\n".encode())
        finally:
            os._exit(code)
    assert os.waitpid(child, 0)[1] == 0

    got = (directory / "ro").stat()
    assert (directory / "ro").read_bytes() == b"hello"
    assert stat.S_IMODE(got.st_mode) == 0o444
    assert got.st_uid == (65534 if as_nobody else os.geteuid())


def test_one_blob_files_are_written_from_the_spans_that_hold_their_blobs(
    tmp_path: Path,
) -> None:
    """A worker gets the pieces of a pack that hold its blobs (with gaps between them),
    each with its offset; a piece cut short fails its blob's files only."""
    key = MasterKey.random()
    contents = [os.urandom(300 + i) for i in range(5)]
    sealed = [key.seal(content) for content in contents]
    offsets, offset = [], 0
    for blob in sealed:
        offsets.append(offset)
        offset += len(blob) + 1000  # other blobs between them
    pack = bytearray(offset)
    for at, blob in zip(offsets, sealed, strict=True):
        pack[at : at + len(blob)] = blob

    def span(first: int, last: int, cut: int = 0) -> Span:
        end = offsets[last] + len(sealed[last]) - cut
        return offsets[first], pickle.PickleBuffer(bytes(pack[offsets[first] : end]))

    spans = [span(0, 0), span(1, 2), span(3, 3, cut=1), span(4, 4)]
    blobs: list[tuple[PlainPackedBlob, list[WholeFile]]] = [
        (
            (BlobType.DATA, hash_bytes(content), at, len(blob), 0),
            [(str(tmp_path / f"f{i}"), len(content), (0o644, 0, 0, None, "2020-01-02T03:04:05Z"))],
        )
        for i, (content, blob, at) in enumerate(zip(contents, sealed, offsets, strict=True))
    ]

    answer = write_whole_files(("ab" * 32, spans, blobs), WriterSettings(key, owner=False))

    assert answer[:3] == [[None]] * 3 and answer[4] == [None]
    assert answer[3][0] is not None and "truncated" in answer[3][0]
    for i, content in enumerate(contents):
        assert (tmp_path / f"f{i}").exists() == (i != 3)
        if i != 3:
            assert (tmp_path / f"f{i}").read_bytes() == content
