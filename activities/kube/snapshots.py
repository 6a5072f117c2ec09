"""VolumeSnapshots of a run: create them together, wait until ready, keep or delete them.

Names come from the run and the PVC (`naming.derived_name`), so a retried step finds the
snapshots an earlier attempt created instead of taking new ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial

import structlog
from kubernetes import client
from temporalio.exceptions import ApplicationError

from activities.kube import rest
from activities.kube.discovery import (
    VOLUME_SNAPSHOT_CONTENTS,
    VOLUME_SNAPSHOTS,
    collection_path,
    object_path,
)
from activities.kube.heartbeat import heartbeat
from activities.kube.naming import derived_name
from activities.kube.waiting import POLL_SECONDS, wait_until_all
from lifeboat.contracts.kube import (
    EXPIRES_AT_ANNOTATION,
    PRESERVED_LABEL,
    PVC_ANNOTATION,
    RECOVERY_POINT_LABEL,
    SnapshotRef,
    SnapshotState,
    SnapshotTarget,
    lifeboat_labels,
)

log = structlog.get_logger(__name__)


def snapshot_name(run_id: str, namespace: str, pvc: str) -> str:
    return derived_name("snap", run_id, namespace, pvc)


def create_snapshots(
    api: client.ApiClient,
    run_id: str,
    targets: list[SnapshotTarget],
    recovery_point: str | None = None,
) -> list[SnapshotRef]:
    """Create every snapshot first (so they are taken as close together as the cluster
    allows), reusing one of the same name that an earlier attempt made."""
    refs = []
    for target in targets:
        name = snapshot_name(run_id, target.namespace, target.pvc)
        spec: rest.Obj = {"source": {"persistentVolumeClaimName": target.pvc}}
        if target.snapshot_class is not None:
            spec["volumeSnapshotClassName"] = target.snapshot_class
        body = {
            "apiVersion": VOLUME_SNAPSHOTS.api_version,
            "kind": VOLUME_SNAPSHOTS.kind,
            "metadata": {
                "name": name,
                "labels": lifeboat_labels(run_id, recovery_point),
                "annotations": {PVC_ANNOTATION: target.pvc},
            },
            "spec": spec,
        }
        path = collection_path(VOLUME_SNAPSHOTS, target.namespace)
        if rest.create(api, path, body) is None:
            existing = rest.get(api, f"{path}/{name}")
            source = (existing.get("spec") or {}).get("source") or {}
            if source.get("persistentVolumeClaimName") != target.pvc:
                raise ApplicationError(
                    f"VolumeSnapshot {target.namespace}/{name} exists and is not of PVC "
                    f"{target.pvc}; delete it or use another run id",
                    non_retryable=True,
                )
        log.info("kube.snapshot.created", namespace=target.namespace, pvc=target.pvc, name=name)
        refs.append(SnapshotRef(namespace=target.namespace, pvc=target.pvc, name=name))
    return refs


def wait_snapshots(
    api: client.ApiClient, snapshots: list[SnapshotRef], timeout_seconds: float
) -> list[SnapshotState]:
    """Each snapshot's outcome: ready, failed with the snapshot controller's error, or
    still not ready when the timeout ends. One bad volume never hides the others.

    An error in a snapshot's status fails it at once, as Velero does: the controllers
    report there what keeps a snapshot from being cut, and waiting would only delay the
    report by the whole timeout.
    """
    deadline = time.monotonic() + timeout_seconds
    done: dict[SnapshotRef, SnapshotState] = {}
    while True:
        for ref in snapshots:
            if ref not in done and (state := _settled_state(api, ref)) is not None:
                done[ref] = state
        pending = [ref for ref in snapshots if ref not in done]
        heartbeat({"ready": len(snapshots) - len(pending), "total": len(snapshots)})
        if not pending:
            break
        if time.monotonic() >= deadline:
            for ref in pending:
                done[ref] = SnapshotState(
                    snapshot=ref,
                    ready=False,
                    timed_out=True,
                    error=f"VolumeSnapshot {ref.namespace}/{ref.name} of PVC {ref.pvc} was "
                    f"not ready after {timeout_seconds:g} s",
                )
            break
        time.sleep(POLL_SECONDS)
    return [done[ref] for ref in snapshots]


def _settled_state(api: client.ApiClient, ref: SnapshotRef) -> SnapshotState | None:
    vs = rest.find(api, object_path(VOLUME_SNAPSHOTS, ref.namespace, ref.name))
    if vs is None:
        return SnapshotState(
            snapshot=ref, ready=False, error=f"VolumeSnapshot {ref.namespace}/{ref.name} is gone"
        )
    status = vs.get("status") or {}
    content = status.get("boundVolumeSnapshotContentName")
    if status.get("readyToUse"):
        return SnapshotState(
            snapshot=ref, ready=True, content=content, restore_size=status.get("restoreSize")
        )
    message = (status.get("error") or {}).get("message")
    if message:
        return SnapshotState(snapshot=ref, ready=False, content=content, error=message)
    return None


def delete_snapshots(
    api: client.ApiClient, snapshots: list[SnapshotRef], timeout_seconds: float
) -> None:
    """Delete the snapshots and wait until they and their contents are gone (a content
    with deletionPolicy Retain stays, by its owner's choice). Deleting twice is fine."""
    waits: list[Callable[[], bool]] = []
    for ref in snapshots:
        path = object_path(VOLUME_SNAPSHOTS, ref.namespace, ref.name)
        vs = rest.find(api, path)
        if vs is None:
            continue
        content = (vs.get("status") or {}).get("boundVolumeSnapshotContentName")
        rest.delete(api, path)
        waits.append(partial(rest.gone, api, path))
        if content:
            content_path = object_path(VOLUME_SNAPSHOT_CONTENTS, None, content)
            waits.append(partial(_content_released, api, content_path))
    wait_until_all(waits, timeout_seconds, "VolumeSnapshots to be deleted")


def _content_released(api: client.ApiClient, path: str) -> bool:
    content = rest.find(api, path)
    return content is None or content["spec"].get("deletionPolicy") == "Retain"


def preserve_snapshots(
    api: client.ApiClient,
    snapshots: list[SnapshotRef],
    recovery_point: str,
    expires_at: datetime,
) -> None:
    """Mark snapshots kept past their run: a sweep of the run spares them, and the expiry
    lets a later job remove them on time."""
    patch = {
        "metadata": {
            "labels": {PRESERVED_LABEL: "true", RECOVERY_POINT_LABEL: recovery_point},
            "annotations": {EXPIRES_AT_ANNOTATION: expires_at.isoformat()},
        }
    }
    for ref in snapshots:
        rest.merge_patch(api, object_path(VOLUME_SNAPSHOTS, ref.namespace, ref.name), patch)
