"""Go's file modes and restic's node types, as `stat` gives them and `chmod` takes them.

Apart from `datamover.tree` (pydantic models) so that the worker processes, which only
need these, start without importing pydantic (see `datamover.workerpool`).
"""

from __future__ import annotations

import stat
from enum import StrEnum

# Go's os.FileMode bits.
GO_MODE_DIR = 1 << 31
GO_MODE_APPEND = 1 << 30
GO_MODE_EXCLUSIVE = 1 << 29
GO_MODE_TEMPORARY = 1 << 28
GO_MODE_SYMLINK = 1 << 27
GO_MODE_DEVICE = 1 << 26
GO_MODE_NAMED_PIPE = 1 << 25
GO_MODE_SOCKET = 1 << 24
GO_MODE_SETUID = 1 << 23
GO_MODE_SETGID = 1 << 22
GO_MODE_CHAR_DEVICE = 1 << 21
GO_MODE_STICKY = 1 << 20
GO_MODE_IRREGULAR = 1 << 19
GO_MODE_PERM = 0o777


class NodeType(StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    DEV = "dev"
    CHARDEV = "chardev"
    FIFO = "fifo"
    SOCKET = "socket"


_NODE_TYPES = {
    stat.S_IFREG: NodeType.FILE,
    stat.S_IFDIR: NodeType.DIR,
    stat.S_IFLNK: NodeType.SYMLINK,
    stat.S_IFBLK: NodeType.DEV,
    stat.S_IFCHR: NodeType.CHARDEV,
    stat.S_IFIFO: NodeType.FIFO,
    stat.S_IFSOCK: NodeType.SOCKET,
}


def node_type_of(st_mode: int) -> NodeType | None:
    """The restic node type of a ``stat`` mode, None for anything restic cannot store."""
    return _NODE_TYPES.get(stat.S_IFMT(st_mode))


def go_mode(st_mode: int) -> int:
    """Go's ``fi.Mode()`` masked as restic masks it, from a POSIX ``st_mode``."""
    mode = st_mode & GO_MODE_PERM
    fmt = stat.S_IFMT(st_mode)
    if fmt == stat.S_IFDIR:
        mode |= GO_MODE_DIR
    elif fmt == stat.S_IFLNK:
        mode |= GO_MODE_SYMLINK
    elif fmt == stat.S_IFBLK:
        mode |= GO_MODE_DEVICE
    elif fmt == stat.S_IFCHR:
        mode |= GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE
    elif fmt == stat.S_IFIFO:
        mode |= GO_MODE_NAMED_PIPE
    elif fmt == stat.S_IFSOCK:
        mode |= GO_MODE_SOCKET
    elif fmt != stat.S_IFREG:
        mode |= GO_MODE_IRREGULAR
    if st_mode & stat.S_ISUID:
        mode |= GO_MODE_SETUID
    if st_mode & stat.S_ISGID:
        mode |= GO_MODE_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= GO_MODE_STICKY
    return mode


def posix_permissions(mode: int) -> int:
    """The bits for ``chmod`` from a Go file mode (permissions, setuid, setgid, sticky)."""
    bits = mode & GO_MODE_PERM
    if mode & GO_MODE_SETUID:
        bits |= stat.S_ISUID
    if mode & GO_MODE_SETGID:
        bits |= stat.S_ISGID
    if mode & GO_MODE_STICKY:
        bits |= stat.S_ISVTX
    return bits
