"""Faults a test switches on in a running emulated cluster, and the client to do so.

The server keeps one `FaultSet` (not persisted: a restart clears it). Each fault may be
scoped to a namespace, a name (the PVC a snapshot is taken of, or the pod; shell-style
globs such as `mounter-*` allowed) and a storage class, so one test can break one volume.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.request
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

FAULTS_PATH = "/_emulator/faults"


class FaultKind(StrEnum):
    SNAPSHOT_CREATION_FAILS = "snapshot_creation_fails"
    SNAPSHOT_NEVER_READY = "snapshot_never_ready"
    POD_NEVER_STARTS = "pod_never_starts"


class Fault(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FaultKind
    namespace: str | None = None
    name: str | None = Field(default=None, description="PVC or pod name; globs allowed")
    storage_class: str | None = None
    message: str = "injected fault"

    def matches(self, namespace: str, name: str, storage_classes: set[str]) -> bool:
        """Whether the fault hits an object; a pod is in every class its PVCs are in."""
        if self.namespace is not None and self.namespace != namespace:
            return False
        if self.name is not None and not fnmatch.fnmatchcase(name, self.name):
            return False
        return self.storage_class is None or self.storage_class in storage_classes


class FaultSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    faults: tuple[Fault, ...] = ()

    def find(
        self, kind: FaultKind, namespace: str, name: str, storage_classes: set[str]
    ) -> Fault | None:
        return next(
            (
                f
                for f in self.faults
                if f.kind == kind and f.matches(namespace, name, storage_classes)
            ),
            None,
        )


def _request(api_url: str, method: str, body: FaultSet | None = None) -> FaultSet:
    data = body.model_dump_json().encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's own
        api_url.rstrip("/") + FAULTS_PATH,
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return FaultSet.model_validate(json.loads(response.read()))


def get_faults(api_url: str) -> FaultSet:
    return _request(api_url, "GET")


def set_faults(api_url: str, faults: FaultSet) -> FaultSet:
    """Replace the cluster's faults; controllers act on them at once."""
    return _request(api_url, "PUT", faults)


def clear_faults(api_url: str) -> FaultSet:
    return _request(api_url, "DELETE")
