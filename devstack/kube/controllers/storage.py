"""PersistentVolume controller and the provisioners: bind claims, provision volumes with
a data directory (empty, or copied from a snapshot or a cloned claim), reclaim released
volumes, and lift `kubernetes.io/pvc-protection` once no pod uses a deleted claim.
"""

from __future__ import annotations

import copy
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..admission import PVC_PROTECTION
from ..bootstrap import snapshot_kind
from ..drivers import NFS_SERVER, PROVISIONERS, Provisioner, csi_driver, quantity_bytes
from ..events import record_event
from ..kinds import builtin
from ..store import Obj

if TYPE_CHECKING:
    from ..cluster import Cluster

PVCS = builtin("", "PersistentVolumeClaim")
PVS = builtin("", "PersistentVolume")
PODS = builtin("", "Pod")
STORAGE_CLASSES = builtin("storage.k8s.io", "StorageClass")
SELECTED_NODE = "volume.kubernetes.io/selected-node"
TERMINAL_PHASES = ("Succeeded", "Failed")


def reconcile_storage(cluster: Cluster) -> None:
    for pvc in list(cluster.api.scan(PVCS)):
        if not pvc["metadata"].get("deletionTimestamp") and not _settled(cluster, pvc):
            _reconcile_claim(cluster, copy.deepcopy(pvc))
    _reconcile_volumes(cluster)
    _lift_claim_protection(cluster)
    _sweep_data_dirs(cluster)


def _settled(cluster: Cluster, pvc: Obj) -> bool:
    """Bound both ways already: the common case, skipped without copying anything."""
    if (pvc.get("status") or {}).get("phase") != "Bound":
        return False
    pv = cluster.api.peek(PVS, "", pvc["spec"].get("volumeName") or "")
    return (
        pv is not None
        and (pv.get("status") or {}).get("phase") == "Bound"
        and (pv["spec"].get("claimRef") or {}).get("uid") == pvc["metadata"]["uid"]
    )


def claims_in_use(cluster: Cluster) -> set[tuple[str, str]]:
    """(namespace, claim) of every claim a pod that has not finished refers to."""
    used = set()
    for pod in cluster.api.scan(PODS):
        if pod.get("status", {}).get("phase") in TERMINAL_PHASES:
            continue
        for volume in pod.get("spec", {}).get("volumes") or []:
            if claim := (volume.get("persistentVolumeClaim") or {}).get("claimName"):
                used.add((pod["metadata"]["namespace"], claim))
    return used


def _pending(cluster: Cluster, pvc: Obj, reason: str, message: str, warning: bool) -> None:
    if pvc.get("status", {}).get("phase") != "Pending":
        cluster.api.write_status(PVCS, {**pvc, "status": {"phase": "Pending"}})
    record_event(
        cluster.api,
        PVCS,
        pvc,
        reason,
        message,
        warning=warning,
        component="persistentvolume-controller",
    )


def _reconcile_claim(cluster: Cluster, pvc: Obj) -> None:
    api = cluster.api
    spec = pvc["spec"]
    meta = pvc["metadata"]
    if volume_name := spec.get("volumeName"):
        pv = api.find(PVS, "", volume_name)
        if pv is None:
            phase = "Lost" if pvc.get("status", {}).get("phase") in ("Bound", "Lost") else "Pending"
            if pvc.get("status", {}).get("phase") != phase:
                api.write_status(PVCS, {**pvc, "status": {"phase": phase}})
            return
        ref = pv["spec"].get("claimRef")
        if ref and (
            (ref.get("namespace"), ref.get("name")) != (meta["namespace"], meta["name"])
            or ref.get("uid") not in (None, meta["uid"])
        ):
            _pending(
                cluster,
                pvc,
                "FailedBinding",
                f"volume {volume_name!r} already bound to a different claim.",
                True,
            )
            return
        _bind(cluster, pv, pvc, by_controller=False)
        return
    if (pv := _matching_volume(cluster, pvc)) is not None:
        _bind(cluster, pv, pvc, by_controller=True)
        return
    class_name = spec.get("storageClassName")
    if not class_name:
        _pending(
            cluster,
            pvc,
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set",
            False,
        )
        return
    sc = api.find(STORAGE_CLASSES, "", class_name)
    if sc is None:
        _pending(
            cluster,
            pvc,
            "ProvisioningFailed",
            f'storageclass.storage.k8s.io "{class_name}" not found',
            True,
        )
        return
    provisioner = PROVISIONERS.get(sc["provisioner"])
    if provisioner is None:
        _pending(
            cluster,
            pvc,
            "ExternalProvisioning",
            "Waiting for a volume to be created "
            f'either by the external provisioner "{sc["provisioner"]}" or manually by '
            "the system administrator.",
            False,
        )
        return
    node = meta.get("annotations", {}).get(SELECTED_NODE)
    if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not node:
        _pending(
            cluster,
            pvc,
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
            False,
        )
        return
    source = _data_source(cluster, pvc, provisioner)
    if isinstance(source, str):
        _pending(cluster, pvc, "ProvisioningFailed", source, True)
        return
    pv = _provision(cluster, pvc, sc, provisioner, node, source)
    _bind(cluster, pv, pvc, by_controller=True)


def _request_bytes(pvc: Obj) -> int:
    return quantity_bytes(pvc["spec"]["resources"]["requests"]["storage"])


def _matching_volume(cluster: Cluster, pvc: Obj) -> Obj | None:
    """A static Available PV of the claim's class, big enough, with the access modes."""
    spec = pvc["spec"]
    meta = pvc["metadata"]
    for pv in cluster.api.scan(PVS):
        pv_spec = pv["spec"]
        ref = pv_spec.get("claimRef")
        if ref and (ref.get("namespace"), ref.get("name")) != (meta["namespace"], meta["name"]):
            continue
        if ref is None and pv.get("status", {}).get("phase") != "Available":
            continue
        if pv_spec.get("storageClassName", "") != spec.get("storageClassName", ""):
            continue
        if not set(spec.get("accessModes") or []) <= set(pv_spec.get("accessModes") or []):
            continue
        if quantity_bytes(pv_spec["capacity"]["storage"]) < _request_bytes(pvc):
            continue
        return copy.deepcopy(pv)
    return None


def _data_source(cluster: Cluster, pvc: Obj, provisioner: Provisioner) -> Path | str | None:
    """The directory a new volume starts from, None for empty, or why it cannot be made."""
    source = pvc["spec"].get("dataSourceRef") or pvc["spec"].get("dataSource")
    if not source:
        return None
    namespace = pvc["metadata"]["namespace"]
    if provisioner.source != "csi":
        return f"failed to provision volume: {provisioner.name} does not support data sources"
    if source.get("kind") == "VolumeSnapshot":
        snapshots, contents = (
            snapshot_kind(cluster.api, p) for p in ("volumesnapshots", "volumesnapshotcontents")
        )
        vs = cluster.api.find(snapshots, namespace, source["name"]) if snapshots else None
        if vs is None or contents is None:
            return (
                f"error getting snapshot {source['name']} from api server: volumesnapshots."
                f'snapshot.storage.k8s.io "{source["name"]}" not found'
            )
        status = vs.get("status") or {}
        content = cluster.api.find(contents, "", status.get("boundVolumeSnapshotContentName", ""))
        if not status.get("readyToUse") or content is None:
            return f"snapshot {source['name']} is not Ready"
        if content["spec"]["driver"] != provisioner.name:
            return (
                f"failed to provision volume: the snapshot's driver "
                f"{content['spec']['driver']} is not {provisioner.name}"
            )
        restore_size = int(content.get("status", {}).get("restoreSize") or 0)
        if restore_size > _request_bytes(pvc):
            return (
                f"requested volume size {_request_bytes(pvc)} is less than the size "
                f"{restore_size} for the source snapshot {source['name']}"
            )
        return cluster.snapshot_dir(content["status"]["snapshotHandle"])
    if source.get("kind") == "PersistentVolumeClaim":
        src = cluster.api.find(PVCS, namespace, source["name"])
        if src is None or src.get("status", {}).get("phase") != "Bound":
            return f"source claim {source['name']} is not bound"
        src_pv = cluster.api.find(PVS, "", src["spec"]["volumeName"])
        if src_pv is None or csi_driver(src_pv) != provisioner.name:
            return f"failed to provision volume: cannot clone {source['name']} across drivers"
        return cluster.volume_dir(src_pv["metadata"]["name"])
    return f"failed to provision volume: unsupported data source kind {source.get('kind')}"


def _volume_source(provisioner: Provisioner, pv_name: str, pvc: Obj) -> dict[str, Any]:
    meta = pvc["metadata"]
    match provisioner.source:
        case "csi":
            return {
                "csi": {
                    "driver": provisioner.name,
                    "volumeHandle": str(uuid.uuid4()),
                    "fsType": "ext4",
                    "volumeAttributes": {
                        "storage.kubernetes.io/csiProvisionerIdentity": (
                            f"1700000000000-1234-{provisioner.name}"
                        ),
                    },
                }
            }
        case "local":
            return {
                "local": {
                    "path": f"/opt/local-path-provisioner/{pv_name}_"
                    f"{meta['namespace']}_{meta['name']}"
                }
            }
        case _:
            return {
                "nfs": {
                    "server": NFS_SERVER,
                    "path": f"/exports/{meta['namespace']}-{meta['name']}-{pv_name}",
                }
            }


def _provision(
    cluster: Cluster,
    pvc: Obj,
    sc: Obj,
    provisioner: Provisioner,
    node: str | None,
    source: Path | None,
) -> Obj:
    meta = pvc["metadata"]
    pv_name = f"pvc-{meta['uid']}"
    data_dir = cluster.volume_dir(pv_name)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if source is not None and source.is_dir():
        shutil.copytree(source, data_dir, symlinks=True)
    else:
        data_dir.mkdir(parents=True)
    spec: dict[str, Any] = {
        **_volume_source(provisioner, pv_name, pvc),
        "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
        "accessModes": pvc["spec"]["accessModes"],
        "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
        "storageClassName": sc["metadata"]["name"],
        "volumeMode": pvc["spec"].get("volumeMode", "Filesystem"),
        "claimRef": {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }
    if sc.get("mountOptions"):
        spec["mountOptions"] = sc["mountOptions"]
    if provisioner.source == "local" and node:
        spec["nodeAffinity"] = {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                        ]
                    }
                ]
            }
        }
    annotations = {"pv.kubernetes.io/provisioned-by": provisioner.name}
    if provisioner.source == "csi":
        annotations["volume.kubernetes.io/provisioner-deletion-secret-name"] = ""
        annotations["volume.kubernetes.io/provisioner-deletion-secret-namespace"] = ""
    pv = cluster.api.create(
        PVS,
        "",
        {
            "metadata": {
                "name": pv_name,
                "annotations": annotations,
                "finalizers": ["kubernetes.io/pv-protection"],
            },
            "spec": spec,
        },
    )
    record_event(
        cluster.api,
        PVCS,
        pvc,
        "ProvisioningSucceeded",
        f"Successfully provisioned volume {pv_name}",
        component=provisioner.name,
    )
    return pv


def _bind(cluster: Cluster, pv: Obj, pvc: Obj, *, by_controller: bool) -> None:
    api = cluster.api
    meta = pvc["metadata"]
    ref = pv["spec"].get("claimRef") or {}
    if ref.get("uid") != meta["uid"]:
        pv["spec"]["claimRef"] = {
            "kind": "PersistentVolumeClaim",
            "apiVersion": "v1",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        }
        pv = api.write(PVS, pv)
    if pv.get("status", {}).get("phase") != "Bound":
        api.write_status(PVS, {**pv, "status": {"phase": "Bound"}})
    annotations = meta.setdefault("annotations", {})
    wanted = {"pv.kubernetes.io/bind-completed": "yes"}
    if by_controller:
        wanted["pv.kubernetes.io/bound-by-controller"] = "yes"
    if (
        provisioned_by := pv["metadata"]
        .get("annotations", {})
        .get("pv.kubernetes.io/provisioned-by")
    ):
        wanted["volume.kubernetes.io/storage-provisioner"] = provisioned_by
        wanted["volume.beta.kubernetes.io/storage-provisioner"] = provisioned_by
    if pvc["spec"].get("volumeName") != pv["metadata"]["name"] or any(
        annotations.get(k) != v for k, v in wanted.items()
    ):
        annotations.update(wanted)
        pvc["spec"]["volumeName"] = pv["metadata"]["name"]
        pvc = api.write(PVCS, pvc)
    status = {
        "phase": "Bound",
        "accessModes": pv["spec"]["accessModes"],
        "capacity": pv["spec"]["capacity"],
    }
    if pvc.get("status") != status:
        api.write_status(PVCS, {**pvc, "status": status})


def _reconcile_volumes(cluster: Cluster) -> None:
    """Available for unclaimed PVs; Released or deleted once their claim is gone."""
    api = cluster.api
    for pv in list(api.scan(PVS)):
        meta = pv["metadata"]
        ref = pv["spec"].get("claimRef")
        if meta.get("deletionTimestamp"):
            if not (ref and ref.get("uid") and _claim_exists(cluster, ref)):
                api.remove_finalizer(PVS, pv, "kubernetes.io/pv-protection")
            continue
        phase = pv.get("status", {}).get("phase")
        if ref is None or not ref.get("uid"):
            wanted = "Available"
        elif _claim_exists(cluster, ref):
            wanted = "Bound"
        elif pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            api.delete_quietly(PVS, "", meta["name"])
            continue
        else:
            wanted = "Released"
        if wanted != "Bound" and phase != wanted:  # binding is _bind's job
            api.write_status(PVS, {**copy.deepcopy(pv), "status": {"phase": wanted}})


def _claim_exists(cluster: Cluster, ref: dict[str, Any]) -> bool:
    pvc = cluster.api.peek(PVCS, ref.get("namespace", ""), ref.get("name", ""))
    return pvc is not None and pvc["metadata"]["uid"] == ref.get("uid")


def _lift_claim_protection(cluster: Cluster) -> None:
    used = claims_in_use(cluster)
    for pvc in list(cluster.api.scan(PVCS)):
        meta = pvc["metadata"]
        if meta.get("deletionTimestamp") and (meta["namespace"], meta["name"]) not in used:
            cluster.api.remove_finalizer(PVCS, pvc, PVC_PROTECTION)


def _sweep_data_dirs(cluster: Cluster) -> None:
    """A volume's data goes with its PV object, as the provisioner deletes the disk."""
    root = cluster.volume_dir("x").parent
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if cluster.api.find(PVS, "", entry.name) is None:
            shutil.rmtree(entry, ignore_errors=True)
