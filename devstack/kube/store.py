"""The object store: what etcd is to a real API server.

Objects are kept per (group, resource) and (namespace, name), whatever API version served
them. One global revision counter provides every `resourceVersion`, as etcd's does.
Writes that change nothing keep the old resourceVersion, so controllers may write
level-triggered without churning the revision.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

StorageKey = tuple[str, str]  # (group, plural)
ObjectKey = tuple[str, str]  # (namespace or "", name)
Obj = dict[str, Any]
Listener = Callable[[str, StorageKey, Obj], None]

_FORMAT = 1


def _without_version(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


class ObjectStore:
    def __init__(self) -> None:
        self._objects: dict[StorageKey, dict[ObjectKey, Obj]] = {}
        self._revision = 0
        self._listeners: list[Listener] = []

    @property
    def revision(self) -> int:
        return self._revision

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Calls `listener(event_type, key, obj)` on each change; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, event: str, key: StorageKey, obj: Obj) -> None:
        for listener in list(self._listeners):
            listener(event, key, obj)

    def get(self, key: StorageKey, namespace: str, name: str) -> Obj | None:
        """A private copy of the object, free to change before writing it back."""
        obj = self._objects.get(key, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def peek(self, key: StorageKey, namespace: str, name: str) -> Obj | None:
        """The stored object itself; shared, so read it only."""
        return self._objects.get(key, {}).get((namespace, name))

    def exists(self, key: StorageKey, namespace: str, name: str) -> bool:
        return (namespace, name) in self._objects.get(key, {})

    def scan(self, key: StorageKey, namespace: str | None = None) -> Iterator[Obj]:
        """Stored objects, sorted by namespace and name; shared, so read them only."""
        bucket = self._objects.get(key, {})
        for ns, name in sorted(bucket):
            if namespace is None or ns == namespace:
                yield bucket[(ns, name)]

    def keys(self) -> list[StorageKey]:
        return [k for k, bucket in self._objects.items() if bucket]

    def uids(self) -> set[str]:
        return {
            obj["metadata"]["uid"] for bucket in self._objects.values() for obj in bucket.values()
        }

    def put(self, key: StorageKey, obj: Obj) -> Obj:
        """Store `obj`, stamping a new resourceVersion unless nothing changed."""
        meta = obj["metadata"]
        object_key = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.setdefault(key, {})
        old = bucket.get(object_key)
        if old is not None and _without_version(old) == _without_version(obj):
            return copy.deepcopy(old)
        self._revision += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self._revision)
        bucket[object_key] = stored
        self._notify("ADDED" if old is None else "MODIFIED", key, stored)
        return copy.deepcopy(stored)

    def remove(self, key: StorageKey, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get(key, {}).pop((namespace, name), None)
        if obj is not None:
            self._revision += 1
            obj["metadata"]["resourceVersion"] = str(self._revision)
            self._notify("DELETED", key, obj)
        return obj

    def drop(self, key: StorageKey) -> None:
        """Forget every object of a resource (its CRD is gone)."""
        for obj in list(self.scan(key)):
            meta = obj["metadata"]
            self.remove(key, meta.get("namespace", ""), meta["name"])

    def dump(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "revision": self._revision,
            "objects": [
                {"group": g, "resource": p, "object": obj}
                for (g, p), bucket in sorted(self._objects.items())
                for _, obj in sorted(bucket.items())
            ],
        }

    def load(self, data: dict[str, Any]) -> None:
        self._objects.clear()
        for entry in data["objects"]:
            obj = entry["object"]
            meta = obj["metadata"]
            bucket = self._objects.setdefault((entry["group"], entry["resource"]), {})
            bucket[(meta.get("namespace", ""), meta["name"])] = obj
        self._revision = int(data["revision"])


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_store(snapshot: dict[str, Any], path: Path) -> None:
    write_atomically(path, json.dumps(snapshot, separators=(",", ":")).encode())


def load_store(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data
