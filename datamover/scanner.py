"""Directory listing and the metadata of a restic node, taken from `lstat`."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from datamover.gotime import GoTime, format_local_ns
from datamover.jsonfmt import dumps, go_quote
from datamover.modes import NodeType, go_mode, node_type_of

if TYPE_CHECKING:
    from datamover.tree import Node

_O_NOATIME = getattr(os, "O_NOATIME", 0)


class Entry(NamedTuple):
    """One directory entry as listed, with its `lstat` (symlinks are never followed).
    (A tuple: one is built for every entry of every backup, four times as fast as a
    frozen dataclass.)"""

    name: str
    path: str
    st: os.stat_result

    @property
    def type(self) -> NodeType | None:
        return node_type_of(self.st.st_mode)


class Listed(NamedTuple):
    """A directory entry its listing says is a regular file, not `lstat`ed: a full backup
    leaves that to the worker that reads the file (it opens and `fstat`s the file anyway,
    and 100,000 `lstat`s here cost more than the syscalls: a third of a second of this
    process's time, and every `stat_result` kept until its directory is done)."""

    name: str
    path: str


def open_without_atime(path: str | bytes, flags: int) -> int:
    """Open without touching the atime: a backup that changed atimes would see different
    metadata next time, and so store different trees. O_NOATIME is only allowed to the
    owner (or root); others open normally."""
    try:
        return os.open(path, flags | _O_NOATIME)
    except PermissionError:
        return os.open(path, flags)


def open_for_reading(path: str | bytes) -> int:
    """Open a source file, never through a symlink."""
    return open_without_atime(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)


def open_dir(path: str) -> int:
    """Open a directory for listing, never through a symlink."""
    return open_without_atime(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def list_dir(path: str) -> Iterator[Entry]:
    """Entries of `path` sorted by name, as restic requires in a tree.

    Entries that vanish between listing and `lstat` are left out: a live volume changes.
    """
    with _sorted_listing(path, _name, os.fsencode) as (fd, prefix, names):
        for name in names:
            entry = _lstat_entry(fd, prefix, name)
            if entry is not None:
                yield entry


def list_dir_files_unstated(path: str) -> Iterator[Entry | Listed]:
    """`list_dir`, but regular files (by the file type the listing gives) as `Listed`."""
    with _sorted_listing(path, _name_and_regular, _first_as_bytes) as (fd, prefix, listed):
        for name, regular in listed:
            entry = Listed(name, prefix + name) if regular else _lstat_entry(fd, prefix, name)
            if entry is not None:
                yield entry


_Item = TypeVar("_Item")


@contextlib.contextmanager
def _sorted_listing(
    path: str, describe: Callable[[os.DirEntry[str]], _Item], key: Callable[[_Item], bytes]
) -> Iterator[tuple[int, str, list[_Item]]]:
    """The directory opened (never through a symlink), the prefix of its entries' paths,
    and its entries as `describe` makes them, sorted by name as bytes (restic's order; `key`
    gives an item's name as bytes). Items, not the listing's `DirEntry`s, are kept while
    the directory is walked: a name is a third of one's memory, and a directory may hold a
    million entries."""
    fd = open_dir(path)
    try:
        with os.scandir(fd) as it:
            listed = sorted(map(describe, it), key=key)
        yield fd, path if path.endswith("/") else path + "/", listed  # (os.path.join costs more)
    finally:
        os.close(fd)


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _name_and_regular(entry: os.DirEntry[str]) -> tuple[str, bool]:
    """The name, and whether the listing says it is a regular file (no `lstat`)."""
    return entry.name, entry.is_file(follow_symlinks=False)


def _first_as_bytes(item: tuple[str, bool]) -> bytes:
    return os.fsencode(item[0])


def _lstat_entry(fd: int, prefix: str, name: str) -> Entry | None:
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return Entry(name=name, path=prefix + name, st=st)


def count_tree(path: str) -> tuple[int, int]:
    """Entries (files, symlinks) and bytes of regular files below `path`, for progress."""
    files = size = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            fd = open_dir(current)
        except OSError:
            continue
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(os.path.join(current, entry.name))
                        continue
                    files += 1
                    if entry.is_file(follow_symlinks=False):
                        with contextlib.suppress(OSError):
                            size += entry.stat(follow_symlinks=False).st_size
        except OSError:
            pass
        finally:
            os.close(fd)
    return files, size


@lru_cache(maxsize=4096)
def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=4096)
def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def node_fields(name: str, st: os.stat_result) -> dict[str, Any]:
    """The metadata fields of a restic node for an entry, keyed by restic's JSON names."""
    node_type = node_type_of(st.st_mode)
    fields: dict[str, Any] = {
        "name": name,
        "type": node_type,
        "mode": go_mode(st.st_mode),
        "mtime": GoTime.from_unix_ns(st.st_mtime_ns),
        "atime": GoTime.from_unix_ns(st.st_atime_ns),
        "ctime": GoTime.from_unix_ns(st.st_ctime_ns),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "user": user_name(st.st_uid),
        "group": group_name(st.st_gid),
        "inode": st.st_ino,
        "device_id": st.st_dev,
        "links": st.st_nlink,
    }
    if node_type is NodeType.FILE:
        fields["size"] = st.st_size
    return fields


def file_node(name: str, st: os.stat_result, content: list[bytes], size: int) -> Node:
    """A file's node: its metadata as `st` says, and the size actually read."""
    fields = node_fields(name, st)
    fields["size"] = size
    fields["content"] = content
    from datamover.tree import Node  # not at import: see `datamover.treejson`

    return Node.model_validate(fields)


def file_node_document(name: str, st: os.stat_result, size: int, content: list[bytes]) -> bytes:
    """The JSON of a file's node, exactly as `Node.to_json_dict` of `file_node` writes it,
    without building the node: small-file workers write one per file, and validating a
    `Node` would cost more than reading and sealing the file."""
    return dumps(file_node_dict(name, st, size, [blob.hex() for blob in content]))


def file_node_dict(name: str, st: os.stat_result, size: int, content: list[str]) -> dict[str, Any]:
    """`file_node_document` as an object, with the content's ids already in hex."""
    doc: dict[str, Any] = {"name": go_quote(name), "type": "file"}
    mode = go_mode(st.st_mode)
    if mode:
        doc["mode"] = mode
    doc["mtime"] = mtime = format_local_ns(st.st_mtime_ns)
    # (A file's ctime and atime are often its mtime: formatted once.)
    ctime_ns, atime_ns = st.st_ctime_ns, st.st_atime_ns
    mtime_ns = st.st_mtime_ns
    doc["atime"] = mtime if atime_ns == mtime_ns else format_local_ns(atime_ns)
    doc["ctime"] = mtime if ctime_ns == mtime_ns else format_local_ns(ctime_ns)
    doc["uid"] = st.st_uid
    doc["gid"] = st.st_gid
    for key, value in (
        ("user", user_name(st.st_uid)),
        ("group", group_name(st.st_gid)),
        ("inode", st.st_ino),
        ("device_id", st.st_dev),
        ("size", size),
        ("links", st.st_nlink),
    ):
        if value:
            doc[key] = value
    doc["content"] = content
    return doc


def matches(node: Node, st: os.stat_result) -> bool:
    """Whether `node` says exactly what `node_fields` would say of `st` (content aside).

    An unchanged entry then keeps its old node object, and a directory whose entries all
    did keeps its old tree, which is then neither encoded nor hashed again."""
    node_type = node_type_of(st.st_mode)
    return (
        node.type is node_type
        and node.mode == go_mode(st.st_mode)
        and node.mtime.is_local(st.st_mtime_ns)
        and node.ctime.is_local(st.st_ctime_ns)
        and node.atime.is_local(st.st_atime_ns)
        and node.inode == st.st_ino
        and node.device_id == st.st_dev
        and node.links == st.st_nlink
        and node.size == (st.st_size if node_type is NodeType.FILE else 0)
        and node.uid == st.st_uid
        and node.gid == st.st_gid
        and node.user == user_name(st.st_uid)
        and node.group == group_name(st.st_gid)
        and not node.extended_attributes
        and not node.device
        and not node.error
    )
