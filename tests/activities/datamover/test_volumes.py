"""The node agent's volume activities: emptying a volume before its data is replaced
(everything goes but `lost+found`, and nothing is followed out of the volume), and a copy
and restore of a volume through them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.datamover.volumes import NodeActivities, empty_directory
from activities.repository import open_repository
from datamover.index import MasterIndex
from devstack.info import StackInfo
from lifeboat.config import load_config
from lifeboat.contracts.volumes import CopyVolumeInput, RestoreVolumeInput, VolumePath, VolumeRef


def test_empty_directory_removes_all_but_lost_and_found(tmp_path: Path) -> None:
    volume, outside = tmp_path / "volume", tmp_path / "outside"
    (volume / "lost+found").mkdir(parents=True)
    (volume / "a" / "b").mkdir(parents=True)
    (volume / "a" / "b" / "file").write_text("data")
    (volume / "top").write_text("data")
    outside.mkdir()
    (outside / "keep").write_text("not the volume's")
    (volume / "link-to-dir").symlink_to(outside)
    (volume / "link-to-file").symlink_to(outside / "keep")
    (volume / "dangling").symlink_to(tmp_path / "missing")

    empty_directory(volume)

    assert [p.name for p in volume.iterdir()] == ["lost+found"]
    assert (outside / "keep").read_text() == "not the volume's"


def test_the_node_agent_restores_a_copied_volume_reading_the_index_meanwhile(
    stack: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A volume copied and restored by the node agent's activities comes back as it was
    (replacing what the target held), and the restore read the repository's index in the
    background while it took its lock and started its workers."""
    location = load_config(stack.home / "config.yaml").storage_locations["default"]
    open_repository(location, create=True).close()  # (as the backup workflow's first step)
    pods = tmp_path / "pods"
    source, target = (pods / uid / "volumes/kubernetes.io~csi/pv-a/mount" for uid in "12")
    files = {f"dir-{i % 7}/file-{i}.txt": f"content {i}\n" * (i + 1) for i in range(300)}
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    (target / "stale").mkdir(parents=True)
    agent = NodeActivities("node-a", pods)
    environment = ActivityEnvironment()
    copied = environment.run(
        agent.copy_volume,
        CopyVolumeInput(
            run_id="run-copy",
            recovery_point="rp-agent",
            cluster="dev",
            storage_location=location,
            volume=VolumeRef(namespace="apps", pvc="data", pv="pv-a"),
            source=VolumePath(node="node-a", relative_path=str(source.relative_to(pods))),
            files=8,
            memory_limit_mib=512,
        ),
    )
    readers: list[str] = []
    load = MasterIndex.load

    def recorded(index: MasterIndex, *args: Any, **kwargs: Any) -> None:
        readers.append(threading.current_thread().name)
        load(index, *args, **kwargs)

    monkeypatch.setattr(MasterIndex, "load", recorded)

    restored = environment.run(
        agent.restore_volume,
        RestoreVolumeInput(
            run_id="run-restore",
            storage_location=location,
            snapshot_id=copied.snapshot_id,
            target=VolumePath(node="node-a", relative_path=str(target.relative_to(pods))),
            files=8,
            memory_limit_mib=512,
            replace=True,
        ),
    )

    assert restored.files == len(files) == copied.files
    assert {
        str(p.relative_to(target)): p.read_text() for p in target.rglob("*") if p.is_file()
    } == files
    assert not (target / "stale").exists()
    assert len(readers) == 1 and readers[0].startswith("index-load")
