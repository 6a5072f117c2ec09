"""Emptying a volume before its data is replaced: everything goes but `lost+found`, and
nothing is followed out of the volume."""

from __future__ import annotations

from pathlib import Path

from activities.datamover.volumes import empty_directory


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
