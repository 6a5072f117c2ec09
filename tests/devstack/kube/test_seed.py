"""The sample application: it creates what it reports, files land in the volumes at the
kubelet path, and seeding twice changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from devstack.info import ClusterInfo
from devstack.kube.seed import generate_files, seed_cluster, volume_digest


def test_seed_creates_what_it_reports(kube: ClusterInfo, core: Any, custom: Any) -> None:
    report = seed_cluster(kube)

    assert set(report.namespaces) == {"shop", "blog", "docs"}
    existing = {n.metadata.name for n in core.list_namespace().items}
    assert set(report.namespaces) <= existing
    assert {v.storage_class for v in report.volumes} == {"csi-snap", "csi-nosnap", "local", "nfs"}
    assert report.namespace_without_pvcs not in {v.namespace for v in report.volumes}
    assert not core.list_namespaced_persistent_volume_claim(report.namespace_without_pvcs).items
    for ref in report.objects["Widget"]:
        ns, name = ref.split("/")
        widget = custom.get_namespaced_custom_object("demo.lifeboat.dev", "v1", ns, "widgets", name)
        assert widget["kind"] == "Widget"
    for ref in report.objects["Deployment"]:
        ns, name = ref.split("/")
        assert client.AppsV1Api(core.api_client).read_namespaced_deployment(name, ns)

    nodes = {n.name: n.kubelet_pods_dir for n in kube.nodes}
    for volume in report.volumes:
        pvc = core.read_namespaced_persistent_volume_claim(volume.pvc, volume.namespace)
        assert pvc.spec.volume_name == volume.pv and pvc.status.phase == "Bound"
        pod = core.read_namespaced_pod(volume.pod, volume.namespace)
        assert pod.spec.node_name == volume.node
        [mount] = nodes[volume.node].glob(f"{pod.metadata.uid}/volumes/*/{volume.pv}/mount")
        assert volume_digest(mount) == volume.digest
        assert 100_000 < volume.bytes < 1_000_000
        assert any(p.is_dir() for p in mount.iterdir() if p.name != "tmp")  # nested dirs

    assert seed_cluster(kube) == report


def test_generated_files_are_deterministic(tmp_path: Path) -> None:
    first, second = generate_files("ns/claim"), generate_files("ns/claim")
    assert first == second and generate_files("ns/other") != first
    for root in (tmp_path / "a", tmp_path / "b"):
        for rel, content in first.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
    assert volume_digest(tmp_path / "a") == volume_digest(tmp_path / "b")
    (tmp_path / "b" / "README.txt").write_bytes(b"changed")
    assert volume_digest(tmp_path / "a") != volume_digest(tmp_path / "b")
