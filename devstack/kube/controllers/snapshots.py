"""external-snapshotter's two halves: the snapshot-controller (VolumeSnapshot to
VolumeSnapshotContent, default classes, error reporting) and the CSI sidecar with the
hostpath driver behind it (the snapshot is a copy of the volume's data directory).

Error messages follow the real controller's, since tools match on them.
"""

from __future__ import annotations

import copy
import shutil
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..apiserver import now
from ..bootstrap import snapshot_kind
from ..drivers import csi_driver, driver_supports_snapshots, quantity_bytes
from ..events import record_event
from ..faults import FaultKind
from ..kinds import KindInfo
from ..store import Obj
from .storage import PVCS, PVS, STORAGE_CLASSES

if TYPE_CHECKING:
    from ..cluster import Cluster

CONTENT_FINALIZER = "snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection"
DEFAULT_CLASS_ANNOTATION = "snapshot.storage.kubernetes.io/is-default-class"


class _Kinds:
    def __init__(self, snapshots: KindInfo, contents: KindInfo, classes: KindInfo) -> None:
        self.snapshots, self.contents, self.classes = snapshots, contents, classes


def reconcile_snapshots(cluster: Cluster) -> None:
    found = [
        snapshot_kind(cluster.api, p)
        for p in ("volumesnapshots", "volumesnapshotcontents", "volumesnapshotclasses")
    ]
    if any(k is None for k in found):
        return
    kinds = _Kinds(*found)  # type: ignore[arg-type]
    for vs in list(cluster.api.scan(kinds.snapshots)):
        if not vs["metadata"].get("deletionTimestamp"):
            _reconcile_snapshot(cluster, kinds, copy.deepcopy(vs))
    for content in list(cluster.api.scan(kinds.contents)):
        _reconcile_content(cluster, kinds, copy.deepcopy(content))


def format_bytes(size: int) -> str:
    """A byte count as the Quantity the API prints (1Gi, 512Mi, 1000)."""
    for suffix, unit in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def _rfc3339(nanos: int) -> str:
    return datetime.fromtimestamp(nanos / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _set_status(cluster: Cluster, kind: KindInfo, obj: Obj, status: dict[str, Any]) -> None:
    old_error = (obj.get("status") or {}).get("error") or {}
    if "error" in status and old_error.get("message") == status["error"]["message"]:
        status["error"]["time"] = old_error.get("time")  # same failure, keep its time
    if obj.get("status") != status:
        cluster.api.write_status(kind, {**obj, "status": status})


def _fail(cluster: Cluster, kinds: _Kinds, vs: Obj, message: str, reason: str) -> None:
    status = {
        **(vs.get("status") or {}),
        "readyToUse": False,
        "error": {"message": message, "time": now()},
    }
    _set_status(cluster, kinds.snapshots, vs, status)
    record_event(
        cluster.api,
        kinds.snapshots,
        vs,
        reason,
        message,
        warning=True,
        component="snapshot-controller",
    )


def _reconcile_snapshot(cluster: Cluster, kinds: _Kinds, vs: Obj) -> None:
    api = cluster.api
    meta, source = vs["metadata"], vs["spec"].get("source") or {}
    content_name = source.get("volumeSnapshotContentName") or (vs.get("status") or {}).get(
        "boundVolumeSnapshotContentName"
    )
    if content_name:
        content = api.find(kinds.contents, "", content_name)
        if content is None:
            _fail(
                cluster,
                kinds,
                vs,
                f"VolumeSnapshotContent {content_name} is missing",
                "SnapshotContentMissing",
            )
        else:
            _sync_from_content(cluster, kinds, vs, content)
        return
    pvc = api.find(PVCS, meta["namespace"], source.get("persistentVolumeClaimName", ""))
    if pvc is None:
        _fail(
            cluster,
            kinds,
            vs,
            "Failed to create snapshot content with error snapshot "
            f"controller failed to update {meta['name']} on API server: cannot get claim from "
            "snapshot",
            "SnapshotContentCreationFailed",
        )
        return
    pv = api.find(PVS, "", pvc["spec"].get("volumeName") or "")
    if pv is None or pvc.get("status", {}).get("phase") != "Bound":
        _fail(
            cluster,
            kinds,
            vs,
            f"the PVC {pvc['metadata']['name']} is not yet bound to a PV, "
            "will not attempt to take a snapshot",
            "SnapshotPending",
        )
        return
    snapshot_class = _snapshot_class(cluster, kinds, vs, pv, pvc)
    if isinstance(snapshot_class, str):
        _fail(cluster, kinds, vs, snapshot_class, "SnapshotContentCreationFailed")
        return
    driver = csi_driver(pv)
    if driver is None:
        _fail(
            cluster,
            kinds,
            vs,
            "Failed to create snapshot content with error cannot find CSI "
            f"PersistentVolumeSource for volume {pv['metadata']['name']}",
            "SnapshotContentCreationFailed",
        )
        return
    content_name = f"snapcontent-{meta['uid']}"
    if api.find(kinds.contents, "", content_name) is None:
        api.create(
            kinds.contents,
            "",
            {
                "metadata": {"name": content_name, "finalizers": [CONTENT_FINALIZER]},
                "spec": {
                    "deletionPolicy": snapshot_class.get("deletionPolicy", "Delete"),
                    "driver": snapshot_class["driver"],
                    "source": {"volumeHandle": pv["spec"]["csi"]["volumeHandle"]},
                    "sourceVolumeMode": pv["spec"].get("volumeMode", "Filesystem"),
                    "volumeSnapshotClassName": snapshot_class["metadata"]["name"],
                    "volumeSnapshotRef": {
                        "apiVersion": kinds.snapshots.api_version,
                        "kind": "VolumeSnapshot",
                        "name": meta["name"],
                        "namespace": meta["namespace"],
                        "uid": meta["uid"],
                    },
                },
            },
        )
    _set_status(
        cluster,
        kinds.snapshots,
        vs,
        {"boundVolumeSnapshotContentName": content_name, "readyToUse": False},
    )


def _snapshot_class(cluster: Cluster, kinds: _Kinds, vs: Obj, pv: Obj, pvc: Obj) -> Obj | str:
    """The VolumeSnapshotClass to use (setting the default one on the spec), or the error."""
    name = vs["spec"].get("volumeSnapshotClassName")
    if name:
        found = cluster.api.find(kinds.classes, "", name)
        if found is None:
            return (
                f"Failed to get snapshot class with error volumesnapshotclass.snapshot."
                f'storage.k8s.io "{name}" not found'
            )
        return found
    sc = cluster.api.find(STORAGE_CLASSES, "", pvc["spec"].get("storageClassName") or "")
    driver = csi_driver(pv) or (sc or {}).get("provisioner")
    defaults = [
        c
        for c in cluster.api.scan(kinds.classes)
        if c.get("driver") == driver
        and c["metadata"].get("annotations", {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
    ]
    if len(defaults) != 1:
        problem = (
            "cannot find default snapshot class"
            if not defaults
            else (f"{len(defaults)} default snapshot classes were found")
        )
        return f"Failed to set default snapshot class with error {problem}"
    vs["spec"]["volumeSnapshotClassName"] = defaults[0]["metadata"]["name"]
    cluster.api.write(kinds.snapshots, vs)
    return copy.deepcopy(defaults[0])


def _sync_from_content(cluster: Cluster, kinds: _Kinds, vs: Obj, content: Obj) -> None:
    ref = content["spec"].get("volumeSnapshotRef") or {}
    if not ref.get("uid"):  # a pre-provisioned content meets its snapshot
        content["spec"]["volumeSnapshotRef"] = {**ref, "uid": vs["metadata"]["uid"]}
        cluster.api.write(kinds.contents, content)
    content_status = content.get("status") or {}
    status: dict[str, Any] = {
        "boundVolumeSnapshotContentName": content["metadata"]["name"],
        "readyToUse": bool(content_status.get("readyToUse")),
    }
    if "creationTime" in content_status:
        status["creationTime"] = _rfc3339(int(content_status["creationTime"]))
    if "restoreSize" in content_status:
        status["restoreSize"] = format_bytes(int(content_status["restoreSize"]))
    if content_status.get("error"):
        status["error"] = {
            "message": "Failed to check and update snapshot content: "
            + content_status["error"]["message"],
            "time": content_status["error"].get("time"),
        }
        record_event(
            cluster.api,
            kinds.snapshots,
            vs,
            "SnapshotContentCheckandUpdateFailed",
            status["error"]["message"],
            warning=True,
            component="snapshot-controller",
        )
    _set_status(cluster, kinds.snapshots, vs, status)


def _source_of(cluster: Cluster, kinds: _Kinds, content: Obj) -> tuple[str, str, set[str]]:
    """(namespace, PVC name, {storage class}) the content was taken from, for faults."""
    ref = content["spec"].get("volumeSnapshotRef") or {}
    vs = cluster.api.peek(kinds.snapshots, ref.get("namespace", ""), ref.get("name", ""))
    claim = ((vs or {}).get("spec", {}).get("source") or {}).get("persistentVolumeClaimName", "")
    pvc = cluster.api.peek(PVCS, ref.get("namespace", ""), claim) if claim else None
    classes = {pvc["spec"].get("storageClassName") or ""} if pvc else set()
    return ref.get("namespace", ""), claim, classes


def _reconcile_content(cluster: Cluster, kinds: _Kinds, content: Obj) -> None:
    api = cluster.api
    meta, spec = content["metadata"], content["spec"]
    status = content.get("status") or {}
    if meta.get("deletionTimestamp"):
        if spec.get("deletionPolicy") == "Delete" and status.get("snapshotHandle"):
            shutil.rmtree(cluster.snapshot_dir(status["snapshotHandle"]), ignore_errors=True)
        api.remove_finalizer(kinds.contents, content, CONTENT_FINALIZER)
        return
    ref = spec.get("volumeSnapshotRef") or {}
    vs = api.find(kinds.snapshots, ref.get("namespace", ""), ref.get("name", ""))
    if ref.get("uid") and (vs is None or vs["metadata"]["uid"] != ref["uid"]):
        if spec.get("deletionPolicy") == "Delete":
            api.delete_quietly(kinds.contents, "", meta["name"])
        return
    namespace, claim, classes = _source_of(cluster, kinds, content)
    never_ready = cluster.faults.find(FaultKind.SNAPSHOT_NEVER_READY, namespace, claim, classes)
    source = spec.get("source") or {}
    if status.get("snapshotHandle"):
        new_status = {**status, "readyToUse": never_ready is None}
    elif source.get("snapshotHandle"):  # pre-provisioned: the data exists already
        handle = source["snapshotHandle"]
        size = sum(p.stat().st_size for p in cluster.snapshot_dir(handle).rglob("*") if p.is_file())
        new_status = {
            "snapshotHandle": handle,
            "readyToUse": True,
            "restoreSize": size,
            "creationTime": time.time_ns(),
        }
    else:
        if not driver_supports_snapshots(spec.get("driver", "")):
            return  # no snapshotter sidecar serves this driver: the content just waits
        new_status = _take_snapshot(cluster, content, namespace, claim, classes)
        if new_status.get("snapshotHandle"):
            new_status["readyToUse"] = never_ready is None
    if not never_ready and status.get("error") and new_status.get("snapshotHandle"):
        new_status.pop("error", None)
    _set_status(cluster, kinds.contents, content, new_status)


def _take_snapshot(
    cluster: Cluster, content: Obj, namespace: str, claim: str, classes: set[str]
) -> dict[str, Any]:
    spec = content["spec"]
    handle = spec["source"]["volumeHandle"]

    def error(desc: str) -> dict[str, Any]:
        return {
            "readyToUse": False,
            "error": {
                "time": now(),
                "message": f'failed to take snapshot of the volume {handle}: "rpc error: {desc}"',
            },
        }

    fault = cluster.faults.find(FaultKind.SNAPSHOT_CREATION_FAILS, namespace, claim, classes)
    if fault is not None:
        return error(f"code = Internal desc = {fault.message}")
    pv = next(
        (
            p
            for p in cluster.api.scan(PVS)
            if (p["spec"].get("csi") or {}).get("volumeHandle") == handle
            and p["spec"]["csi"].get("driver") == spec["driver"]
        ),
        None,
    )
    if pv is None:
        return error(f"code = NotFound desc = source volume {handle} does not exist")
    snapshot_handle = str(uuid.uuid4())
    target = cluster.snapshot_dir(snapshot_handle)
    source_dir = cluster.volume_dir(pv["metadata"]["name"])
    if source_dir.is_dir():
        shutil.copytree(source_dir, target, symlinks=True)
    else:
        target.mkdir(parents=True)
    return {
        "snapshotHandle": snapshot_handle,
        "creationTime": time.time_ns(),
        "restoreSize": quantity_bytes(pv["spec"]["capacity"]["storage"]),
        "readyToUse": True,
    }
