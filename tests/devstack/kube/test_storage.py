"""Volumes as csi-driver-host-path and the kubelet present them: provisioning, mounts at
the kubelet path on one node, snapshots, restores from snapshots, placement rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.info import ClusterInfo
from devstack.kube.layout import snapshot_data_dir, volume_data_dir
from devstack.kube.seed import volume_digest

MountOf = Callable[[str, str, str], Path | None]
VS_API = ("snapshot.storage.k8s.io", "v1")


def _running(core: Any, eventually: Any, namespace: str, name: str) -> Any:
    return eventually(
        lambda: (p := core.read_namespaced_pod(name, namespace)).status.phase == "Running" and p
    )


def _snapshot(
    custom: Any,
    namespace: str,
    name: str,
    claim: str,
    snapshot_class: str | None = None,
) -> None:
    spec: dict[str, Any] = {"source": {"persistentVolumeClaimName": claim}}
    if snapshot_class:
        spec["volumeSnapshotClassName"] = snapshot_class
    custom.create_namespaced_custom_object(
        *VS_API,
        namespace,
        "volumesnapshots",
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": name},
            "spec": spec,
        },
    )


def _snapshot_status(custom: Any, namespace: str, name: str) -> Any:
    vs = custom.get_namespaced_custom_object(*VS_API, namespace, "volumesnapshots", name)
    return vs.get("status") or {}


def test_claim_binds_to_a_provisioned_volume(
    core: Any, namespace: str, manifests: Any, eventually: Any, kube: ClusterInfo
) -> None:
    pvc = core.create_namespaced_persistent_volume_claim(
        namespace, manifests.pvc("d", "nfs", "ReadWriteMany")
    )
    bound = eventually(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("d", namespace)).status.phase
            == "Bound"
            and c
        )
    )
    pv = core.read_persistent_volume(bound.spec.volume_name)
    assert pv.metadata.name == f"pvc-{pvc.metadata.uid}"
    assert (pv.spec.claim_ref.name, pv.spec.claim_ref.uid) == ("d", pvc.metadata.uid)
    assert pv.status.phase == "Bound" and pv.spec.capacity == {"storage": "1Gi"}
    assert pv.spec.nfs.server and pv.spec.access_modes == ["ReadWriteMany"]
    assert bound.status.capacity == {"storage": "1Gi"}
    assert volume_data_dir(kube.state_dir, pv.metadata.name).is_dir()

    core.delete_namespaced_persistent_volume_claim("d", namespace)
    eventually(
        lambda: (
            not core.list_persistent_volume(
                field_selector=f"metadata.name={pv.metadata.name}"
            ).items
        )
    )
    assert not volume_data_dir(kube.state_dir, pv.metadata.name).exists()


def test_pod_volume_appears_on_its_node_only(
    core: Any,
    namespace: str,
    manifests: Any,
    eventually: Any,
    kube: ClusterInfo,
    mount_of: MountOf,
) -> None:
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("d", "csi-snap"))
    core.create_namespaced_pod(namespace, manifests.pod("app", claim="d"))
    pod = _running(core, eventually, namespace, "app")
    pv = core.read_namespaced_persistent_volume_claim("d", namespace).spec.volume_name
    node = pod.spec.node_name
    mount = mount_of(node, pod.metadata.uid, pv)
    assert mount is not None and mount.parent.parent.name == "kubernetes.io~csi"
    (mount / "dir").mkdir()
    (mount / "dir" / "file.txt").write_text("hello")
    assert (volume_data_dir(kube.state_dir, pv) / "dir" / "file.txt").read_text() == "hello"
    others = [n for n in kube.nodes if n.name != node]
    assert others and all(not (n.kubelet_pods_dir / pod.metadata.uid).exists() for n in others)

    core.delete_namespaced_pod("app", namespace)
    pod_dir = next(n.kubelet_pods_dir for n in kube.nodes if n.name == node) / pod.metadata.uid
    eventually(lambda: not pod_dir.exists())
    assert (volume_data_dir(kube.state_dir, pv) / "dir" / "file.txt").read_text() == "hello"


def test_placement_rules(core: Any, namespace: str, manifests: Any, eventually: Any) -> None:
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("rwo", "csi-snap"))
    core.create_namespaced_pod(
        namespace, manifests.pod("first", claim="rwo", nodeName="dev-node-2")
    )
    _running(core, eventually, namespace, "first")
    core.create_namespaced_pod(namespace, manifests.pod("second", claim="rwo"))
    assert _running(core, eventually, namespace, "second").spec.node_name == "dev-node-2"

    selector = {"kubernetes.io/hostname": "dev-node-1"}
    core.create_namespaced_pod(namespace, manifests.pod("picky", nodeSelector=selector))
    assert _running(core, eventually, namespace, "picky").spec.node_name == "dev-node-1"

    core.create_namespaced_pod(namespace, manifests.pod("orphan", claim="missing"))
    pod = core.read_namespaced_pod("orphan", namespace)
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    assert 'persistentvolumeclaim "missing" not found' in pod.status.conditions[0].message


def test_local_volume_waits_for_its_consumer_and_pins_the_node(
    core: Any, namespace: str, manifests: Any, eventually: Any
) -> None:
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("d", "local"))
    assert core.read_namespaced_persistent_volume_claim("d", namespace).status.phase == "Pending"
    core.create_namespaced_pod(namespace, manifests.pod("db", claim="d"))
    node = _running(core, eventually, namespace, "db").spec.node_name
    pvc = core.read_namespaced_persistent_volume_claim("d", namespace)
    assert pvc.status.phase == "Bound"
    pv = core.read_persistent_volume(pvc.spec.volume_name)
    assert pv.spec.local.path
    term = pv.spec.node_affinity.required.node_selector_terms[0].match_expressions[0]
    assert (term.key, term.values) == ("kubernetes.io/hostname", [node])

    other = next(n for n in ("dev-node-1", "dev-node-2") if n != node)
    core.delete_namespaced_pod("db", namespace)
    core.create_namespaced_pod(
        namespace,
        manifests.pod("elsewhere", claim="d", nodeSelector={"kubernetes.io/hostname": other}),
    )
    pod = core.read_namespaced_pod("elsewhere", namespace)
    assert pod.status.phase == "Pending" and pod.status.conditions[0].reason == "Unschedulable"


def test_snapshot_copies_data_and_a_restore_starts_from_it(
    core: Any,
    custom: Any,
    namespace: str,
    manifests: Any,
    eventually: Any,
    kube: ClusterInfo,
    mount_of: MountOf,
) -> None:
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("src", "csi-snap"))
    core.create_namespaced_pod(namespace, manifests.pod("app", claim="src"))
    pod = _running(core, eventually, namespace, "app")
    pv = core.read_namespaced_persistent_volume_claim("src", namespace).spec.volume_name
    mount = mount_of(pod.spec.node_name, pod.metadata.uid, pv)
    assert mount is not None
    (mount / "db").mkdir()
    (mount / "db" / "rows").write_bytes(b"before" * 1000)
    digest_before = volume_digest(mount)

    _snapshot(custom, namespace, "snap", "src")
    status = eventually(
        lambda: (s := _snapshot_status(custom, namespace, "snap")).get("readyToUse") and s
    )
    assert status["restoreSize"] == "1Gi" and status["creationTime"]
    vs = custom.get_namespaced_custom_object(*VS_API, namespace, "volumesnapshots", "snap")
    assert vs["spec"]["volumeSnapshotClassName"] == "csi-snap-class"  # the default class
    content = custom.get_cluster_custom_object(
        *VS_API, "volumesnapshotcontents", status["boundVolumeSnapshotContentName"]
    )
    assert content["metadata"]["name"] == f"snapcontent-{vs['metadata']['uid']}"
    assert content["spec"]["driver"] == "hostpath.csi.k8s.io"
    assert content["status"]["readyToUse"] and content["status"]["restoreSize"] == 1 << 30
    handle = content["status"]["snapshotHandle"]
    assert volume_digest(snapshot_data_dir(kube.state_dir, handle)) == digest_before

    (mount / "db" / "rows").write_bytes(b"after")
    (mount / "later.txt").write_text("written after the snapshot")

    restored = manifests.pvc("restored", "csi-snap")
    restored["spec"]["dataSource"] = {
        "apiGroup": "snapshot.storage.k8s.io",
        "kind": "VolumeSnapshot",
        "name": "snap",
    }
    core.create_namespaced_persistent_volume_claim(namespace, restored)
    core.create_namespaced_pod(namespace, manifests.pod("reader", claim="restored"))
    reader = _running(core, eventually, namespace, "reader")
    restored_pv = core.read_namespaced_persistent_volume_claim("restored", namespace)
    restored_mount = mount_of(
        reader.spec.node_name, reader.metadata.uid, restored_pv.spec.volume_name
    )
    assert restored_mount is not None
    assert volume_digest(restored_mount) == digest_before
    assert not (restored_mount / "later.txt").exists()

    custom.delete_namespaced_custom_object(*VS_API, namespace, "volumesnapshots", "snap")
    eventually(
        lambda: (
            not any(
                c["metadata"]["name"] == content["metadata"]["name"]
                for c in custom.list_cluster_custom_object(*VS_API, "volumesnapshotcontents")[
                    "items"
                ]
            )
        )
    )
    assert not snapshot_data_dir(kube.state_dir, handle).exists()
    assert volume_digest(restored_mount) == digest_before  # a restored volume is independent


@pytest.mark.parametrize(
    ("storage_class", "snapshot_class", "message"),
    [
        (
            "csi-nosnap",
            None,
            "Failed to set default snapshot class with error cannot find default snapshot class",
        ),
        ("csi-nosnap", "csi-snap-class", "failed to take snapshot of the volume"),
        ("local", "csi-snap-class", "cannot find CSI PersistentVolumeSource for volume"),
        ("nfs", None, "cannot find default snapshot class"),
    ],
)
def test_snapshot_of_a_volume_without_snapshot_support_fails(
    core: Any,
    custom: Any,
    namespace: str,
    manifests: Any,
    eventually: Any,
    storage_class: str,
    snapshot_class: str | None,
    message: str,
) -> None:
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("d", storage_class))
    core.create_namespaced_pod(namespace, manifests.pod("app", claim="d"))
    _running(core, eventually, namespace, "app")
    _snapshot(custom, namespace, "snap", "d", snapshot_class)
    status = eventually(
        lambda: (s := _snapshot_status(custom, namespace, "snap")).get("error") and s
    )
    assert status["readyToUse"] is False and message in status["error"]["message"]
    events = core.list_namespaced_event(
        namespace, field_selector="involvedObject.kind=VolumeSnapshot,involvedObject.name=snap"
    ).items
    assert any(e.type == "Warning" and message in e.message for e in events)


def test_a_claim_in_use_waits_for_its_pod(
    core: Any, namespace: str, manifests: Any, eventually: Any
) -> None:
    """kubernetes.io/pvc-protection: a deleted claim stays until no pod uses it."""
    core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc("d", "csi-snap"))
    core.create_namespaced_pod(namespace, manifests.pod("app", claim="d"))
    _running(core, eventually, namespace, "app")
    core.delete_namespaced_persistent_volume_claim("d", namespace)
    held = core.read_namespaced_persistent_volume_claim("d", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == ["kubernetes.io/pvc-protection"]
    core.delete_namespaced_pod("app", namespace)
    eventually(lambda: not core.list_namespaced_persistent_volume_claim(namespace).items)
