"""The cluster agent's contracts: names a selection matches, labels, and a round trip
through Temporal's pydantic converter."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from lifeboat.contracts.kube import (
    Inventory,
    ObjectRef,
    PodUse,
    ResourceType,
    VolumeExposure,
    VolumeInfo,
    lifeboat_labels,
)
from lifeboat.models import ResourceSelection


def test_resource_type_names_are_the_forms_a_selection_takes() -> None:
    deployments = ResourceType(
        group="apps",
        version="v1",
        kind="Deployment",
        plural="deployments",
        namespaced=True,
        verbs=["list"],
    )
    pods = ResourceType(
        group="", version="v1", kind="Pod", plural="pods", namespaced=True, verbs=[]
    )

    assert (deployments.name, deployments.api_version) == ("deployments.apps", "apps/v1")
    assert (pods.name, pods.api_version) == ("pods", "v1")
    only = ResourceSelection(include_resource_types=[deployments.name])
    assert only.includes_resource_type(deployments.plural, deployments.group)
    assert not only.includes_resource_type(pods.plural, pods.group)


def test_labels_name_the_run_and_the_recovery_point() -> None:
    assert lifeboat_labels("run-1") == {
        "app.kubernetes.io/managed-by": "lifeboat",
        "lifeboat.io/run": "run-1",
    }
    assert lifeboat_labels("run-1", "rp-1")["lifeboat.io/recovery-point"] == "rp-1"


def test_running_pod_is_the_first_running_one_by_name() -> None:
    volume = VolumeInfo(
        namespace="shop",
        pvc="data",
        pv="pv-1",
        storage_class=None,
        driver=None,
        csi=False,
        plugin_dir=None,
        access_modes=["ReadWriteMany"],
        capacity="1Gi",
        snapshot_class=None,
        snapshot_note="it is not a CSI volume",
        pods=[
            PodUse(name="c", uid="3", node="n1", phase="Running"),
            PodUse(name="a", uid="1", node=None, phase="Pending"),
            PodUse(name="b", uid="2", node="n2", phase="Running"),
        ],
    )

    assert volume.running_pod is not None and volume.running_pod.name == "b"
    assert not volume.supports_snapshots


def test_outputs_round_trip_through_the_temporal_converter() -> None:
    converter = pydantic_data_converter.payload_converter
    exposure = VolumeExposure(
        node="node-1",
        pod_uid="uid-1",
        pv_name="pv-1",
        relative_path="uid-1/volumes/kubernetes.io~csi/pv-1/mount",
        created=[
            ObjectRef(api_version="v1", kind="Pod", plural="pods", namespace="shop", name="m")
        ],
    )
    inventory = Inventory(
        resource_types=[], namespaces=["shop"], object_counts={"pods": 1}, volumes=[]
    )

    payloads: list[Payload] = converter.to_payloads([exposure, inventory])
    back = converter.from_payloads(payloads, [VolumeExposure, Inventory])

    assert back == [exposure, inventory]
    assert exposure.volume_path.relative_path == exposure.relative_path
