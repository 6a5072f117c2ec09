"""Faults switched on at runtime break exactly the volume or pod they name."""

from __future__ import annotations

from typing import Any

from devstack.kube.faults import Fault, FaultKind, FaultSet, get_faults, set_faults

VS_API = ("snapshot.storage.k8s.io", "v1")


def _snapshot(custom: Any, namespace: str, name: str, claim: str) -> None:
    custom.create_namespaced_custom_object(
        *VS_API,
        namespace,
        "volumesnapshots",
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": name},
            "spec": {"source": {"persistentVolumeClaimName": claim}},
        },
    )


def _status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    vs = custom.get_namespaced_custom_object(*VS_API, namespace, "volumesnapshots", name)
    status: dict[str, Any] = vs.get("status") or {}
    return status


def _claims(core: Any, namespace: str, manifests: Any, *names: str) -> None:
    for name in names:
        core.create_namespaced_persistent_volume_claim(namespace, manifests.pvc(name, "csi-snap"))


def test_fault_set_round_trips(no_faults: str, namespace: str) -> None:
    faults = FaultSet(faults=(Fault(kind=FaultKind.POD_NEVER_STARTS, namespace=namespace),))
    assert set_faults(no_faults, faults) == faults
    assert get_faults(no_faults) == faults


def test_snapshot_creation_fails_for_one_volume_only(
    core: Any,
    custom: Any,
    namespace: str,
    manifests: Any,
    eventually: Any,
    no_faults: str,
) -> None:
    _claims(core, namespace, manifests, "broken", "fine")
    set_faults(
        no_faults,
        FaultSet(
            faults=(
                Fault(
                    kind=FaultKind.SNAPSHOT_CREATION_FAILS,
                    namespace=namespace,
                    name="broken",
                    message="disk array on fire",
                ),
            )
        ),
    )
    _snapshot(custom, namespace, "of-broken", "broken")
    _snapshot(custom, namespace, "of-fine", "fine")
    failed = eventually(lambda: (s := _status(custom, namespace, "of-broken")).get("error") and s)
    assert failed["readyToUse"] is False
    assert "rpc error: code = Internal desc = disk array on fire" in failed["error"]["message"]
    assert failed["error"]["message"].startswith("Failed to check and update snapshot content")
    assert eventually(lambda: _status(custom, namespace, "of-fine").get("readyToUse"))

    set_faults(no_faults, FaultSet())
    ready = eventually(
        lambda: (s := _status(custom, namespace, "of-broken")).get("readyToUse") and s
    )
    assert "error" not in ready


def test_snapshot_never_ready_by_storage_class(
    core: Any,
    custom: Any,
    namespace: str,
    manifests: Any,
    eventually: Any,
    no_faults: str,
) -> None:
    _claims(core, namespace, manifests, "d")
    set_faults(
        no_faults,
        FaultSet(
            faults=(
                Fault(
                    kind=FaultKind.SNAPSHOT_NEVER_READY,
                    namespace=namespace,
                    storage_class="csi-snap",
                ),
            )
        ),
    )
    _snapshot(custom, namespace, "slow", "d")
    pending = eventually(
        lambda: (
            (s := _status(custom, namespace, "slow")).get("boundVolumeSnapshotContentName") and s
        )
    )
    assert pending["readyToUse"] is False and "error" not in pending
    set_faults(no_faults, FaultSet())
    assert eventually(lambda: _status(custom, namespace, "slow").get("readyToUse"))


def test_pod_never_starts(
    core: Any, namespace: str, manifests: Any, eventually: Any, no_faults: str
) -> None:
    set_faults(
        no_faults,
        FaultSet(
            faults=(Fault(kind=FaultKind.POD_NEVER_STARTS, namespace=namespace, name="mounter-*"),)
        ),
    )
    core.create_namespaced_pod(namespace, manifests.pod("mounter-abc"))
    core.create_namespaced_pod(namespace, manifests.pod("app"))
    assert eventually(lambda: core.read_namespaced_pod("app", namespace).status.phase == "Running")
    stuck = core.read_namespaced_pod("mounter-abc", namespace)
    assert stuck.status.phase == "Pending" and stuck.spec.node_name
    waiting = stuck.status.container_statuses[0].state.waiting
    assert waiting.reason == "ContainerCreating"

    set_faults(no_faults, FaultSet())
    assert eventually(
        lambda: core.read_namespaced_pod("mounter-abc", namespace).status.phase == "Running"
    )
