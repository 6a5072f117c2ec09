"""The HTTP face of an emulated cluster: Kubernetes API paths on aiohttp.

Every path is parsed by hand, as the real server's URL space is regular but awkward for a
router (`/api/v1/namespaces/x` is a namespace, `/api/v1/namespaces/x/pods` a collection).
After each write the controllers settle before the response goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
import yaml
from aiohttp import web
from pydantic import ValidationError

from . import discovery
from .bootstrap import KUBERNETES_VERSION
from .cluster import Cluster
from .errors import ApiError, bad_request, method_not_allowed, path_not_found, unauthorized
from .faults import FAULTS_PATH, FaultSet
from .kinds import KindInfo
from .patching import APPLY_PATCH, apply_patch
from .selectors import field_predicate, label_predicate
from .store import Obj, StorageKey

log = structlog.get_logger(__name__)

VERSION_INFO = {
    "major": "1",
    "minor": "30",
    "gitVersion": KUBERNETES_VERSION,
    "gitCommit": "7c48c2bd72b9bf5c44d21d7338cc7bea77d0ad2a",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T17:27:03Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_PUBLIC_PATHS = {"/healthz", "/readyz", "/livez", "/version", FAULTS_PATH}
_NAMESPACE_SUBRESOURCES = {"status", "finalize"}


@dataclass(frozen=True)
class Target:
    """What an API path addresses."""

    kind: KindInfo
    namespace: str | None  # None: every namespace (lists) or a cluster-scoped kind
    name: str | None
    subresource: str | None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )


def _error(exc: ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


def _success(kind: KindInfo, obj: Obj) -> dict[str, Any]:
    meta = obj["metadata"]
    details = {"name": meta["name"], "kind": kind.plural, "uid": meta["uid"]}
    if kind.group:
        details["group"] = kind.group
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


class KubeApp:
    def __init__(self, cluster: Cluster, token: str, server_address: str) -> None:
        self.cluster = cluster
        self.token = token
        self.server_address = server_address
        self.stopping = asyncio.Event()

    # --- plumbing ----------------------------------------------------------------------

    def build(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/healthz", self._ok)
        app.router.add_get("/readyz", self._ok)
        app.router.add_get("/livez", self._ok)
        app.router.add_get("/version", self._version)
        app.router.add_route("*", FAULTS_PATH, self._faults)
        app.router.add_route("*", "/{tail:.*}", self._api)
        return app

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _version(self, request: web.Request) -> web.Response:
        return _json(VERSION_INFO)

    async def _faults(self, request: web.Request) -> web.Response:
        if request.method == "PUT":
            try:
                faults = FaultSet.model_validate_json(await request.read())
            except ValidationError as exc:
                return _error(bad_request(str(exc)))
            self.cluster.set_faults(faults)
            log.info("kube.faults_set", cluster=self.cluster.name, faults=len(faults.faults))
        elif request.method == "DELETE":
            self.cluster.set_faults(FaultSet())
        elif request.method != "GET":
            return _error(method_not_allowed(f"{request.method} is not allowed"))
        return _json(self.cluster.faults.model_dump(mode="json"))

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if header != f"Bearer {self.token}":
            raise unauthorized()

    async def _api(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authorize(request)
            return await self._dispatch(request)
        except ApiError as exc:
            return _error(exc)

    # --- routing -----------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        registry = self.cluster.api.registry()
        if parts == ["api"]:
            return _json(discovery.api_versions(self.server_address))
        if parts == ["apis"]:
            return _json(discovery.api_group_list(registry))
        if len(parts) == 2 and parts[0] == "apis":
            return _found(discovery.api_group(registry, parts[1]), request.path)
        if parts == ["api", "v1"]:
            return _found(discovery.api_resource_list(registry, "", "v1"), request.path)
        if len(parts) == 3 and parts[0] == "apis":
            return _found(discovery.api_resource_list(registry, parts[1], parts[2]), request.path)
        target = self._target(parts, request.path)
        return await self._serve(request, target)

    def _target(self, parts: list[str], path: str) -> Target:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) > 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise path_not_found(path)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            namespace, rest = rest[1], rest[2:]
        kind = self.cluster.api.registry().by_path(group, version, rest[0])
        if kind is None or len(rest) > 3 or (namespace is not None and not kind.namespaced):
            raise path_not_found(path)
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and sub not in kind.subresources:
            raise path_not_found(path)
        if name is not None and kind.namespaced and namespace is None:
            raise path_not_found(path)
        return Target(kind, namespace, name, sub)

    async def _serve(self, request: web.Request, target: Target) -> web.StreamResponse:
        method, query = request.method, request.query
        kind, name = target.kind, target.name
        namespace = target.namespace or ""
        dry_run = bool(query.get("dryRun"))
        api = self.cluster.api
        if name is None:
            if method == "GET":
                if query.get("watch") in ("true", "1"):
                    return await self._watch(request, target)
                result = api.list(
                    kind,
                    target.namespace,
                    label_selector=query.get("labelSelector"),
                    field_selector=query.get("fieldSelector"),
                    limit=int(query["limit"]) if query.get("limit") else None,
                    continue_token=query.get("continue"),
                )
                meta: dict[str, Any] = {"resourceVersion": result.resource_version}
                if result.continue_token:
                    meta["continue"] = result.continue_token
                    meta["remainingItemCount"] = result.remaining
                return _json(
                    {
                        "kind": f"{kind.kind}List",
                        "apiVersion": kind.api_version,
                        "metadata": meta,
                        "items": result.items,
                    }
                )
            if method == "POST":
                if kind.namespaced and target.namespace is None:
                    raise method_not_allowed("create needs a namespace")
                created = api.create(kind, namespace, await _body(request), dry_run=dry_run)
                self._settle(dry_run)
                return _json(created, 201)
            if method == "DELETE":
                return self._delete_collection(request, target, dry_run)
            raise method_not_allowed(f"{method} is not allowed on a collection")
        if target.subresource == "scale":
            return await self._scale(request, target, dry_run)
        if method == "GET":
            return _json(api.get(kind, namespace, name))
        if method == "PUT":
            updated = api.update(
                kind,
                namespace,
                name,
                await _body(request),
                subresource=_status_only(target),
                dry_run=dry_run,
            )
            self._settle(dry_run)
            return _json(updated)
        if method == "PATCH":
            content_type = request.headers.get("Content-Type", "")
            patched, was_created = api.patch(
                kind,
                namespace,
                name,
                await _body(request),
                content_type,
                subresource=_status_only(target),
                dry_run=dry_run,
            )
            self._settle(dry_run)
            return _json(patched, 201 if was_created else 200)
        if method == "DELETE":
            options: dict[str, Any] = await _body(request, optional=True) or {}
            obj, gone = api.delete(
                kind,
                namespace,
                name,
                propagation=query.get("propagationPolicy") or options.get("propagationPolicy"),
                preconditions=options.get("preconditions"),
                dry_run=dry_run,
            )
            self._settle(dry_run)
            if not gone:
                return _json(obj, 202)
            return _json(obj if kind.kind == "Pod" else _success(kind, obj))
        raise method_not_allowed(f"{method} is not allowed")

    def _settle(self, dry_run: bool) -> None:
        if not dry_run:
            self.cluster.reconciler.settle()

    def _delete_collection(
        self, request: web.Request, target: Target, dry_run: bool
    ) -> web.Response:
        api = self.cluster.api
        result = api.list(
            target.kind,
            target.namespace,
            label_selector=request.query.get("labelSelector"),
            field_selector=request.query.get("fieldSelector"),
        )
        for obj in result.items:
            meta = obj["metadata"]
            api.delete(target.kind, meta.get("namespace", ""), meta["name"], dry_run=dry_run)
        self._settle(dry_run)
        return _json(
            {
                "kind": f"{target.kind.kind}List",
                "apiVersion": target.kind.api_version,
                "metadata": {"resourceVersion": str(self.cluster.store.revision)},
                "items": result.items,
            }
        )

    async def _scale(self, request: web.Request, target: Target, dry_run: bool) -> web.Response:
        api, kind = self.cluster.api, target.kind
        namespace, name = target.namespace or "", target.name or ""
        obj = api.get(kind, namespace, name)
        if request.method in ("PUT", "PATCH"):
            body = await _body(request)
            if request.method == "PATCH":
                body = apply_patch(_scale_of(obj), body, request.headers.get("Content-Type", ""))
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise bad_request("spec.replicas must be a non-negative integer")
            obj["spec"]["replicas"] = replicas
            obj = api.update(kind, namespace, name, obj, dry_run=dry_run)
            self._settle(dry_run)
            obj = api.get(kind, namespace, name) if not dry_run else obj
        elif request.method != "GET":
            raise method_not_allowed(f"{request.method} is not allowed on scale")
        return _json(_scale_of(obj))

    # --- watch -------------------------------------------------------------------------

    async def _watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        """Chunked JSON watch events; starts with ADDED for what exists unless a
        resourceVersion is given (history is not kept, so later events only)."""
        kind = target.kind
        labels = label_predicate(request.query.get("labelSelector"))
        fields = field_predicate(request.query.get("fieldSelector"), kind)
        timeout = float(request.query.get("timeoutSeconds") or 1800)

        def wanted(obj: Obj) -> bool:
            ns = obj["metadata"].get("namespace", "")
            return (
                (target.namespace is None or ns == target.namespace)
                and labels(obj["metadata"].get("labels") or {})
                and fields(obj)
            )

        queue: asyncio.Queue[tuple[str, Obj]] = asyncio.Queue()

        def listener(event: str, key: StorageKey, obj: Obj) -> None:
            if key == kind.storage_key and wanted(obj):
                queue.put_nowait((event, self.cluster.api.present(kind, obj)))

        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        if request.query.get("resourceVersion") in (None, "", "0"):
            for obj in self.cluster.api.scan(kind, target.namespace):
                if wanted(obj):
                    queue.put_nowait(("ADDED", self.cluster.api.present(kind, obj)))
        unsubscribe = self.cluster.store.subscribe(listener)
        try:
            async with asyncio.timeout(timeout):
                while not self.stopping.is_set():
                    get = asyncio.ensure_future(queue.get())
                    stop = asyncio.ensure_future(self.stopping.wait())
                    done, pending = await asyncio.wait(
                        {get, stop}, return_when=asyncio.FIRST_COMPLETED
                    )
                    for task in pending:
                        task.cancel()
                    if get not in done:
                        break
                    event, obj = get.result()
                    line = json.dumps({"type": event, "object": obj}, separators=(",", ":"))
                    await response.write(line.encode() + b"\n")
        except (TimeoutError, ConnectionResetError):
            pass
        finally:
            unsubscribe()
        with contextlib.suppress(ConnectionResetError):
            await response.write_eof()
        return response


def _found(body: dict[str, Any] | None, path: str) -> web.Response:
    if body is None:
        raise path_not_found(path)
    return _json(body)


def _status_only(target: Target) -> str | None:
    return "status" if target.subresource == "status" else None


def _scale_of(obj: Obj) -> dict[str, Any]:
    meta = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    match_labels = selector.get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items())),
        },
    }


async def _body(request: web.Request, *, optional: bool = False) -> Any:
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise bad_request("the request body is empty")
    loads: Callable[[bytes], Any] = (
        yaml.safe_load
        if request.headers.get("Content-Type", "").startswith(APPLY_PATCH)
        else json.loads
    )
    try:
        return loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"the request body is not valid: {exc}") from exc
