"""The storage the emulated cluster offers, as data: provisioners and their volume types.

Modelled on real setups: csi-driver-host-path (CSI, snapshots), a CSI driver without the
snapshot capability, local-path-provisioner with `volumeType: local` (non-CSI `local` PVs
pinned to a node, WaitForFirstConsumer) and nfs-subdir-external-provisioner (non-CSI NFS,
ReadWriteMany). CSI volumes here behave like network block storage: any node can mount
them, one node at a time for ReadWriteOnce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from kubernetes.utils import quantity

SourceType = Literal["csi", "local", "nfs"]


@dataclass(frozen=True)
class Provisioner:
    name: str
    source: SourceType
    snapshots: bool
    storage_class: str
    binding_mode: Literal["Immediate", "WaitForFirstConsumer"] = "Immediate"
    parameters: tuple[tuple[str, str], ...] = ()


HOSTPATH_CSI = Provisioner("hostpath.csi.k8s.io", "csi", True, "csi-snap")
NOSNAP_CSI = Provisioner("nosnap.csi.k8s.io", "csi", False, "csi-nosnap")
LOCAL_PATH = Provisioner(
    "rancher.io/local-path",
    "local",
    False,
    "local",
    "WaitForFirstConsumer",
    (("volumeType", "local"),),
)
NFS_SUBDIR = Provisioner("k8s-sigs.io/nfs-subdir-external-provisioner", "nfs", False, "nfs")

PROVISIONERS: dict[str, Provisioner] = {
    p.name: p for p in (HOSTPATH_CSI, NOSNAP_CSI, LOCAL_PATH, NFS_SUBDIR)
}
DEFAULT_STORAGE_CLASS = HOSTPATH_CSI.storage_class
SNAPSHOT_CLASS = "csi-snap-class"
NFS_SERVER = "nfs.storage.svc.cluster.local"

# Kubelet's directory for each volume plugin under <pod-uid>/volumes/.
PLUGIN_DIRS: dict[SourceType, str] = {
    "csi": "kubernetes.io~csi",
    "local": "kubernetes.io~local-volume",
    "nfs": "kubernetes.io~nfs",
}


def pv_source_type(pv: dict[str, Any]) -> SourceType | None:
    """The plugin a PV is mounted with; None for sources the kubelet dir never shows."""
    spec = pv.get("spec", {})
    for source in ("csi", "local", "nfs"):
        if source in spec:
            return source  # type: ignore[return-value,unused-ignore]
    return None


def csi_driver(pv: dict[str, Any]) -> str | None:
    csi = pv.get("spec", {}).get("csi")
    return str(csi["driver"]) if csi else None


def driver_supports_snapshots(driver: str) -> bool:
    provisioner = PROVISIONERS.get(driver)
    return provisioner is not None and provisioner.snapshots


_parse_quantity: Callable[[str], Decimal] = quantity.parse_quantity


def quantity_bytes(value: str) -> int:
    """A storage quantity ("1Gi", "500M") in bytes."""
    return int(_parse_quantity(value))
