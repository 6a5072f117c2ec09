"""Events the controllers record, so `kubectl describe`-style debugging works.

One event per (object, reason, message): controllers reconcile level-triggered and would
otherwise write the same event on every pass.
"""

from __future__ import annotations

import contextlib
import hashlib

from .apiserver import ApiServer, now
from .errors import ApiError
from .kinds import KindInfo, builtin
from .store import Obj

EVENTS = builtin("", "Event")


def record_event(
    api: ApiServer,
    kind: KindInfo,
    obj: Obj,
    reason: str,
    message: str,
    *,
    warning: bool = False,
    component: str = "emulator",
) -> None:
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    digest = hashlib.sha256(f"{meta['uid']}/{reason}/{message}".encode()).hexdigest()[:16]
    name = f"{meta['name']}.{digest}"
    if api.find(EVENTS, namespace, name) is not None:
        return
    if api.find(builtin("", "Namespace"), "", namespace) is None:
        return
    stamp = now()
    with contextlib.suppress(ApiError):  # e.g. the namespace is terminating
        api.create(
            EVENTS,
            namespace,
            {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": kind.api_version,
                    "kind": kind.kind,
                    "name": meta["name"],
                    "namespace": meta.get("namespace"),
                    "uid": meta["uid"],
                    "resourceVersion": meta.get("resourceVersion"),
                },
                "reason": reason,
                "message": message,
                "type": "Warning" if warning else "Normal",
                "source": {"component": component},
                "reportingComponent": component,
                "reportingInstance": "",
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            },
        )
