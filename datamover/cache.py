"""A local cache of what every command reads again, like restic's.

- The key file that opened a repository, per repository string: the next command can start
  its key derivation (half a second of scrypt) before the repository is even reached.
- Packs of trees, per repository id: an incremental backup reads its parent's trees, and a
  restore its plan, from the local disk instead of one request per directory.
- Index and snapshot files, per repository id: every command reads all of them, and a
  repository backed up hourly gains hundreds a month.

Entries are exactly what the repository stores (encrypted, named by content), so the cache
holds nothing the repository does not. A damaged entry fails its MAC or id check and is
fetched again; a missing or unwritable cache only costs speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Container
from pathlib import Path
from typing import Any

from datamover.atomicfile import write_atomically

CACHE_DIR_ENV = "LIFEBOAT_CACHE_DIR"
_TAG = "CACHEDIR.TAG"
_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file marks Lifeboat's cache; backup tools skip directories tagged so.\n"
)


def default_cache_dir() -> Path:
    """``$LIFEBOAT_CACHE_DIR``, else ``$XDG_CACHE_HOME/lifeboat``, else ``~/.cache/lifeboat``."""
    explicit = os.environ.get(CACHE_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg or Path.home() / ".cache") / "lifeboat"


class RepositoryCache:
    """One repository's entries under a cache root (see the module docstring)."""

    def __init__(self, root: Path, location: str) -> None:
        self.root = root
        self.location = location
        self._keys = root / "keys" / hashlib.sha256(location.encode()).hexdigest()[:32]
        self._packs: Path | None = None
        self.writable = True
        """False once a write failed: packs are then read in ranges, not downloaded whole
        again and again for nothing."""
        self._rooted = False
        """The root and its CACHEDIR.TAG exist (checked once per run, not per write)."""
        self._fetching: dict[str, threading.Lock] = {}
        self._fetching_guard = threading.Lock()

    # -- key files -----------------------------------------------------------------------

    def key_file(self) -> tuple[str, bytes] | None:
        """The name and bytes of the key file that last opened this repository."""
        try:
            entries = list(self._keys.iterdir())
        except OSError:
            return None
        for entry in entries:
            if not entry.name.startswith("."):
                with contextlib.suppress(OSError):
                    return entry.name, entry.read_bytes()
        return None

    def remember_key_file(self, name: str, data: bytes) -> None:
        """Keep this key file as the only one remembered for the repository."""
        cached = self.key_file()
        if cached == (name, data):
            return
        if cached is not None:
            with contextlib.suppress(OSError):
                (self._keys / cached[0]).unlink()
        self._write(self._keys / name, data)

    # -- tree packs ----------------------------------------------------------------------

    def use_repository(self, repository_id: str) -> None:
        """Packs are cached per repository id (known once the config is decrypted)."""
        self._packs = self.root / repository_id / "data"

    def _pack_path(self, pack_hex: str) -> Path | None:
        return None if self._packs is None else self._packs / pack_hex[:2] / pack_hex

    @property
    def keeps_packs(self) -> bool:
        return self._packs is not None and self.writable

    def read_pack_range(
        self, pack_hex: str, offset: int, length: int, download: Callable[[], bytes]
    ) -> tuple[bytes, bool]:
        """``length`` bytes at ``offset`` of a pack, and whether they came from the cache.

        A pack not cached yet is downloaded whole (once, however many threads ask) and
        kept: the other trees in it are usually wanted next."""
        path = self._pack_path(pack_hex)
        if path is None:
            return _slice(download(), offset, length), False
        cached = _pread(path, offset, length)
        if cached is not None:
            return cached, True
        with self._fetch_lock(pack_hex):
            cached = _pread(path, offset, length)
            if cached is not None:
                return cached, True
            data = download()
            self._write(path, data)
        return _slice(data, offset, length), False

    def save_pack(self, pack_hex: str, data: bytes | bytearray) -> None:
        path = self._pack_path(pack_hex)
        if path is not None:
            self._write(path, data)

    def discard_pack(self, pack_hex: str) -> None:
        path = self._pack_path(pack_hex)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()

    def keep_only_packs(self, indexed: Callable[[bytes], bool]) -> None:
        """Delete cached packs the repository's index no longer names (after a gc). Asks
        about the cached packs only, not every pack of the repository; leaves another
        process's temporary files alone."""
        if self._packs is None:
            return
        try:
            directories = list(self._packs.iterdir())
        except OSError:
            return
        for directory in directories:
            with contextlib.suppress(OSError):
                for entry in directory.iterdir():
                    if not entry.name.startswith(".") and not _names_indexed(entry.name, indexed):
                        entry.unlink()

    # -- index and snapshot files -----------------------------------------------------------

    def read_file(self, kind: str, name: str) -> bytes | None:
        """The cached copy of a stored file of `kind` (``index``, ``snapshots``), if any
        (the caller checks it against its name, as it checks a download)."""
        directory = self._files_dir(kind)
        if directory is None:
            return None
        try:
            return (directory / name).read_bytes()
        except OSError:
            return None

    def save_file(self, kind: str, name: str, data: bytes) -> None:
        directory = self._files_dir(kind)
        if directory is not None and self.writable:
            self._write(directory / name, data)

    def discard_file(self, kind: str, name: str) -> None:
        directory = self._files_dir(kind)
        if directory is not None:
            with contextlib.suppress(OSError):
                (directory / name).unlink()

    def keep_only_files(self, kind: str, listed: Container[str]) -> None:
        """Delete cached files of `kind` the repository no longer lists (forgotten
        snapshots, index files a gc replaced); leaves temporary files alone."""
        directory = self._files_dir(kind)
        if directory is None:
            return
        with contextlib.suppress(OSError):
            for entry in directory.iterdir():
                if not entry.name.startswith(".") and entry.name not in listed:
                    entry.unlink()

    def _files_dir(self, kind: str) -> Path | None:
        return None if self._packs is None else self._packs.parent / kind

    # -- files ---------------------------------------------------------------------------

    def _fetch_lock(self, pack_hex: str) -> threading.Lock:
        with self._fetching_guard:
            return self._fetching.setdefault(pack_hex, threading.Lock())

    def _write(self, path: Path, data: bytes | bytearray) -> None:
        """Write atomically (another process may read the same entry); a failure only
        makes the cache read-only for the rest of the run."""
        try:
            self._ensure_root()
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomically(path, data, durable=False)
        except OSError as exc:
            if self.writable:
                _log().warning(
                    "the local cache is not writable", cache=str(self.root), error=str(exc)
                )
            self.writable = False

    def _ensure_root(self) -> None:
        if self._rooted:
            return
        tag = self.root / _TAG
        if not tag.exists():
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            tag.write_text(_TAG_TEXT)
        self._rooted = True


def _names_indexed(name: str, indexed: Callable[[bytes], bool]) -> bool:
    try:
        return indexed(bytes.fromhex(name))
    except ValueError:
        return False


def _pread(path: Path, offset: int, length: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.pread(fd, length, offset)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == length else None


def _slice(data: bytes, offset: int, length: int) -> bytes:
    return data[offset : offset + length]


def _log() -> Any:
    """The logger, imported when first needed: a command opens its cache before it imports
    (and configures) structlog, to start its key derivation early (`datamover.earlykey`)."""
    import structlog

    return structlog.get_logger(__name__)
