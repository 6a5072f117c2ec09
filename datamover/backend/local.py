"""A repository in a local directory, in restic's default layout."""

from __future__ import annotations

import errno
import io
import os
from collections.abc import Iterator
from pathlib import Path

from datamover.atomicfile import write_atomically
from datamover.backend.base import (
    FileInfo,
    FileType,
    IntoMemory,
    Ranges,
    RangeStream,
    relative_path,
)
from datamover.errors import AccessDeniedError, BackendError, FileNotFoundInBackendError

_DIR_TYPES = (FileType.KEYS, FileType.LOCKS, FileType.SNAPSHOTS, FileType.INDEX, FileType.DATA)


class LocalBackend:
    """Files under ``root``; writes go to a temporary file in the target directory and
    are renamed into place, so readers never see a partial file."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).absolute()

    @property
    def location(self) -> str:
        return str(self.root)

    def _path(self, file_type: FileType, name: str) -> Path:
        return self.root / relative_path(file_type, name)

    def create_layout(self) -> None:
        try:
            for file_type in _DIR_TYPES:
                (self.root / file_type.value).mkdir(parents=True, exist_ok=True, mode=0o700)
            for prefix in range(256):
                (self.root / "data" / f"{prefix:02x}").mkdir(exist_ok=True, mode=0o700)
        except PermissionError as exc:
            raise AccessDeniedError(f"cannot create repository at {self.root}: {exc}") from exc

    def save(self, file_type: FileType, name: str, data: bytes | bytearray) -> None:
        path = self._path(file_type, name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomically(path, data, mode=0o400)
        except PermissionError as exc:
            raise AccessDeniedError(f"cannot write {path}: {exc}") from exc
        except OSError as exc:
            raise BackendError(f"cannot write {path}: {os.strerror(exc.errno or 0)}") from exc

    def load(self, file_type: FileType, name: str, offset: int = 0, length: int = -1) -> bytes:
        with self._open(file_type, name) as handle:
            if offset:
                handle.seek(offset)
            return handle.read(length)

    def load_ranges(
        self, file_type: FileType, name: str, ranges: Ranges, into: IntoMemory | None = None
    ) -> RangeStream:
        with self._open(file_type, name) as handle:
            for offset, length in ranges:
                handle.seek(offset)
                buffer = None if into is None else into(length)
                if buffer is None:
                    yield handle.read(length)
                else:
                    yield buffer[: handle.readinto(buffer[:length])]

    def _open(self, file_type: FileType, name: str) -> io.BufferedReader:
        path = self._path(file_type, name)
        try:
            return open(path, "rb")
        except FileNotFoundError as exc:
            raise FileNotFoundInBackendError(f"{path} does not exist") from exc
        except PermissionError as exc:
            raise AccessDeniedError(f"cannot read {path}: {exc}") from exc

    def stat(self, file_type: FileType, name: str) -> FileInfo:
        path = self._path(file_type, name)
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise FileNotFoundInBackendError(f"{path} does not exist") from exc
        return FileInfo(name=name, size=st.st_size, mtime=st.st_mtime)

    def exists(self, file_type: FileType, name: str) -> bool:
        return self._path(file_type, name).exists()

    def list(self, file_type: FileType) -> Iterator[FileInfo]:
        if file_type is FileType.CONFIG:
            if self.exists(FileType.CONFIG, "config"):
                yield self.stat(FileType.CONFIG, "config")
            return
        base = self.root / file_type.value
        if file_type is FileType.DATA:
            dirs = sorted(Path(e.path) for e in _scandir(base) if e.is_dir())
        else:
            dirs = [base]
        for directory in dirs:
            for entry in _scandir(directory):
                if entry.name.startswith(".") or not entry.is_file():
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                yield FileInfo(name=entry.name, size=st.st_size, mtime=st.st_mtime)

    def remove(self, file_type: FileType, name: str) -> None:
        path = self._path(file_type, name)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except PermissionError as exc:
            raise AccessDeniedError(f"cannot delete {path}: {exc}") from exc

    def close(self) -> None:
        pass


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return list(entries)
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.EACCES:
            raise AccessDeniedError(f"cannot list {path}") from exc
        raise
