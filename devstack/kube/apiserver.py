"""The API operations on stored objects: create, get, list, update, patch, delete.

The HTTP layer and the in-process controllers both go through here, so every write gets
the same metadata handling (uid, resourceVersion, generation, finalizers), defaults and
validation. Controllers pass `system=True` to skip immutability checks, as the real
controllers use subresources (binding, status) that have their own rules.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import admission
from .errors import ApiError, already_exists, bad_request, conflict, not_found
from .kinds import BUILTIN_KINDS, KindInfo, Registry, builtin, kinds_from_crd
from .patching import APPLY_PATCH, apply_patch
from .selectors import field_predicate, label_predicate
from .store import Obj, ObjectStore

NAMESPACES = builtin("", "Namespace")
# Groups whose kinds track metadata.generation (core kinds such as PVCs do not).
_GENERATION_GROUPS = {"apps", "batch", "networking.k8s.io", "policy", "apiextensions.k8s.io"}
CRDS = builtin("apiextensions.k8s.io", "CustomResourceDefinition")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _object_namespace(kind: KindInfo, obj: Obj) -> str:
    return str(obj["metadata"].get("namespace", "")) if kind.namespaced else ""


def _spec_part(obj: Obj) -> dict[str, Any]:
    """What `generation` counts: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass(frozen=True)
class ListResult:
    items: list[Obj]
    resource_version: str
    continue_token: str | None
    remaining: int | None


class ApiServer:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._registry: tuple[tuple[tuple[str, str], ...], Registry] | None = None

    # --- kinds -------------------------------------------------------------------------

    def registry(self) -> Registry:
        """Built-in kinds plus every CRD's served versions, rebuilt when CRDs change."""
        crds = list(self.store.scan(CRDS.storage_key))
        signature = tuple((c["metadata"]["uid"], c["metadata"]["resourceVersion"]) for c in crds)
        if self._registry is None or self._registry[0] != signature:
            custom = [k for crd in crds for k in kinds_from_crd(crd)]
            self._registry = (signature, Registry([*BUILTIN_KINDS, *custom]))
        return self._registry[1]

    def present(self, kind: KindInfo, obj: Obj) -> Obj:
        """The object as the API returns it at the requested version."""
        out = {k: v for k, v in copy.deepcopy(obj).items() if k not in ("apiVersion", "kind")}
        return {"apiVersion": kind.api_version, "kind": kind.kind, **out}

    # --- reads -------------------------------------------------------------------------

    def get(self, kind: KindInfo, namespace: str, name: str) -> Obj:
        obj = self.store.get(kind.storage_key, namespace if kind.namespaced else "", name)
        if obj is None:
            raise not_found(kind, name)
        return self.present(kind, obj)

    def find(self, kind: KindInfo, namespace: str, name: str) -> Obj | None:
        """For controllers: the object or None."""
        return self.store.get(kind.storage_key, namespace if kind.namespaced else "", name)

    def peek(self, kind: KindInfo, namespace: str, name: str) -> Obj | None:
        """For controllers' hot read-only paths: the stored object itself, not a copy."""
        return self.store.peek(kind.storage_key, namespace if kind.namespaced else "", name)

    def scan(self, kind: KindInfo, namespace: str | None = None) -> Iterator[Obj]:
        """For controllers: stored objects, read-only."""
        return self.store.scan(kind.storage_key, namespace)

    def list(
        self,
        kind: KindInfo,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        labels = label_predicate(label_selector)
        fields = field_predicate(field_selector, kind)
        after = self._decode_continue(continue_token) if continue_token else None
        matched = [
            obj
            for obj in self.store.scan(kind.storage_key, namespace if kind.namespaced else None)
            if labels(obj["metadata"].get("labels") or {})
            and fields(obj)
            and (after is None or self._position(obj) > after)
        ]
        token, remaining = None, None
        if limit and len(matched) > limit:
            matched, rest = matched[:limit], matched[limit:]
            token = self._encode_continue(self._position(matched[-1]))
            remaining = len(rest)
        return ListResult(
            [self.present(kind, o) for o in matched], str(self.store.revision), token, remaining
        )

    @staticmethod
    def _position(obj: Obj) -> tuple[str, str]:
        return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    @staticmethod
    def _encode_continue(position: tuple[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()

    @staticmethod
    def _decode_continue(token: str) -> tuple[str, str]:
        try:
            ns, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        except (ValueError, TypeError) as exc:
            raise bad_request("continue key is not valid") from exc
        return (str(ns), str(name))

    # --- writes ------------------------------------------------------------------------

    def create(self, kind: KindInfo, namespace: str, body: Obj, *, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(body)
        if obj.get("kind") not in (None, kind.kind):
            raise bad_request(
                f"the kind in the data ({obj['kind']}) does not match the expected kind "
                f"({kind.kind})"
            )
        meta = obj.setdefault("metadata", {})
        if meta.get("resourceVersion"):
            raise ApiError(
                500,
                "InternalError",
                "Internal error occurred: resourceVersion should not be set on objects to be "
                "created",
            )
        if kind.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(
                    422,
                    "Invalid",
                    f'{kind.kind} "" is invalid: metadata.name: Required value: name or '
                    "generateName is required",
                )
            meta["name"] = self._generate_name(kind, namespace, meta["generateName"])
        name = meta["name"]
        if kind.namespaced:
            admission.check_namespace_open(
                kind, name, self.store.get(NAMESPACES.storage_key, "", namespace), namespace
            )
        if self.store.exists(kind.storage_key, _object_namespace(kind, obj), name):
            raise already_exists(kind, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(key, None)
        if kind.custom or kind.group in _GENERATION_GROUPS:
            meta["generation"] = 1
        if kind.has_status:
            obj.pop("status", None)  # status is the controllers' to write, never the creator's
        admission.apply_defaults(kind, obj, self.store)
        admission.validate(kind, obj)
        obj = {"apiVersion": kind.api_version, "kind": kind.kind, **obj}
        if dry_run:
            return obj
        return self.present(kind, self.store.put(kind.storage_key, obj))

    def _generate_name(self, kind: KindInfo, namespace: str, prefix: str) -> str:
        ns = namespace if kind.namespaced else ""
        while True:
            name = prefix + admission.random_suffix()
            if not self.store.exists(kind.storage_key, ns, name):
                return name

    def update(
        self,
        kind: KindInfo,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        system: bool = False,
    ) -> Obj:
        ns = namespace if kind.namespaced else ""
        old = self.store.get(kind.storage_key, ns, name)
        if old is None:
            raise not_found(kind, name)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"].get(
            "resourceVersion"
        ):
            raise conflict(kind, name)
        new = self._merge_update(kind, old, copy.deepcopy(body), subresource)
        if not system:
            if subresource is None:
                admission.check_update(kind, old, new)
            admission.validate(kind, new)
        if dry_run:
            return self.present(kind, new)
        return self._store_update(kind, new)

    def _merge_update(self, kind: KindInfo, old: Obj, new: Obj, subresource: str | None) -> Obj:
        if subresource == "status":
            result = copy.deepcopy(old)
            result["status"] = new.get("status", {})
            return result
        meta = new.setdefault("metadata", {})
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace"):
            if key in old["metadata"]:
                meta[key] = old["metadata"][key]
            else:
                meta.pop(key, None)
        meta["name"] = old["metadata"]["name"]
        meta.pop("resourceVersion", None)
        if kind.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        if "generation" in meta and _spec_part(old) != _spec_part(new):
            meta["generation"] = int(meta["generation"]) + 1
        return new

    def _store_update(self, kind: KindInfo, obj: Obj) -> Obj:
        meta = obj["metadata"]
        finalizing = meta.get("deletionTimestamp") and not meta.get("finalizers")
        if finalizing and kind != NAMESPACES:
            removed = self.store.remove(
                kind.storage_key, _object_namespace(kind, obj), meta["name"]
            )
            return self.present(kind, removed or obj)
        return self.present(kind, self.store.put(kind.storage_key, obj))

    def patch(
        self,
        kind: KindInfo,
        namespace: str,
        name: str,
        patch: Any,
        content_type: str,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """The patched object and whether it was created (server-side apply may create)."""
        ns = namespace if kind.namespaced else ""
        current = self.store.get(kind.storage_key, ns, name)
        if current is None:
            if content_type.startswith(APPLY_PATCH) and isinstance(patch, dict):
                body = {**patch, "metadata": {**(patch.get("metadata") or {}), "name": name}}
                return self.create(kind, namespace, body, dry_run=dry_run), True
            raise not_found(kind, name)
        # The patched object keeps the current resourceVersion unless the patch sets one,
        # which then acts as a precondition in `update`, as on a real server.
        patched = apply_patch(self.present(kind, current), patch, content_type)
        updated = self.update(
            kind, namespace, name, patched, subresource=subresource, dry_run=dry_run
        )
        return updated, False

    def delete(
        self,
        kind: KindInfo,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[Obj, bool]:
        """The object and whether it is gone (False: it waits on finalizers)."""
        ns = namespace if kind.namespaced else ""
        obj = self.store.get(kind.storage_key, ns, name)
        if obj is None:
            raise not_found(kind, name)
        pre = preconditions or {}
        meta = obj["metadata"]
        if (pre.get("uid") and pre["uid"] != meta["uid"]) or (
            pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]
        ):
            raise conflict(kind, name)
        if dry_run:
            return self.present(kind, obj), True
        if kind == NAMESPACES:
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                obj.setdefault("status", {})["phase"] = "Terminating"
                obj = self.store.put(kind.storage_key, obj)
            return self.present(kind, obj), False
        if meta.get("finalizers"):
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                meta["deletionGracePeriodSeconds"] = 0
                obj = self.store.put(kind.storage_key, obj)
            return self.present(kind, obj), False
        if propagation == "Orphan":
            self._orphan_dependents(meta["uid"])
        removed = self.store.remove(kind.storage_key, ns, name)
        return self.present(kind, removed or obj), True

    def _orphan_dependents(self, owner_uid: str) -> None:
        for key in self.store.keys():  # noqa: SIM118 - a method, not a dict
            for obj in list(self.store.scan(key)):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == owner_uid for r in refs):
                    changed = copy.deepcopy(obj)
                    kept = [r for r in refs if r.get("uid") != owner_uid]
                    if kept:
                        changed["metadata"]["ownerReferences"] = kept
                    else:
                        changed["metadata"].pop("ownerReferences", None)
                    self.store.put(key, changed)

    # --- helpers for controllers -------------------------------------------------------

    def write(self, kind: KindInfo, obj: Obj) -> Obj:
        """A controller's update of spec and metadata, without admission checks."""
        meta = obj["metadata"]
        return self.update(
            kind,
            meta.get("namespace", ""),
            meta["name"],
            {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}},
            system=True,
        )

    def write_status(self, kind: KindInfo, obj: Obj) -> Obj:
        """A controller's status write; status is its own, so no resourceVersion check."""
        meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        return self.update(
            kind,
            meta.get("namespace", ""),
            meta["name"],
            {**obj, "metadata": meta},
            subresource="status",
            system=True,
        )

    def remove_finalizer(self, kind: KindInfo, obj: Obj, finalizer: str) -> None:
        finalizers = obj["metadata"].get("finalizers") or []
        if finalizer in finalizers:
            changed = copy.deepcopy(obj)
            changed["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            self._store_update(kind, changed)

    def delete_quietly(self, kind: KindInfo, namespace: str, name: str) -> None:
        try:
            self.delete(kind, namespace, name)
        except ApiError as exc:
            if exc.code != 404:
                raise
