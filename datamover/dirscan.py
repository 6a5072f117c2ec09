"""Comparing a directory with its tree in the parent snapshot, in a worker process.

An incremental backup of many unchanged files is bound by per-file Python work in the
walking thread: an `lstat`, formatting the node's times, comparing it with the parent's
node. A worker process does that for a whole directory, on another CPU, while the walk is
still busy with the directories before it; the walk then only takes the parent's nodes the
worker found unchanged.
"""

from __future__ import annotations

import stat
from typing import Any, Final

from datamover.jsonfmt import dumps, go_unquote
from datamover.parent import compare_file
from datamover.scanner import list_dir
from datamover.treejson import tree_documents

KEPT: Final = "kept"
"""``(KEPT, i)``: the file is unchanged, and the parent's node ``i`` is exactly its node."""
RESTATED: Final = "restated"
"""``(RESTATED, i, json)``: the file's content is the parent node ``i``'s; its metadata
changed, and ``json`` is its node now."""
ENTRY: Final = "entry"
"""``(ENTRY, name, st)``: anything else (a changed or new file, a directory, a symlink),
for the walk to handle as it lists it itself."""
UNLISTABLE: Final = "unlistable"
"""``[(UNLISTABLE,)]``: the directory could not be listed; the walk lists it itself,
and reports why."""

ScanItem = tuple[Any, ...]
"""One of the tuples above: plain tuples, as they cross a pipe (a class instance per entry
would cost more to unpickle than the comparison saves)."""
ScanResult = list[ScanItem]


def scan_directory(path: str, tree_json: bytes) -> ScanResult:
    """The directory's entries, by name, each compared with its node in `tree_json` (the
    directory's tree in the parent snapshot)."""
    documents = tree_documents(tree_json)
    parent = {go_unquote(str(doc.get("name", ""))): (i, doc) for i, doc in enumerate(documents)}
    try:
        entries = list(list_dir(path))
    except OSError:
        return [(UNLISTABLE,)]
    items: list[ScanItem] = []
    for entry in entries:
        found = parent.get(entry.name) if stat.S_ISREG(entry.st.st_mode) else None
        compared = compare_file(entry.name, entry.st, found[1]) if found is not None else None
        if found is None or compared is None:
            items.append((ENTRY, entry.name, entry.st))
        elif compared[1] is None:
            items.append((KEPT, found[0]))
        else:
            items.append((RESTATED, found[0], dumps(compared[1])))
    return items
