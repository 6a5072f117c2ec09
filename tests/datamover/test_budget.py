"""The memory budget: in-process semantics, and the peak RSS of a real backup process."""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from datamover import budget
from datamover.api import backup, restore
from datamover.blobs import BlobType
from datamover.budget import (
    ByteBudget,
    long_lived_objects_left_alone,
    plan_memory,
    plan_with_workers,
)
from datamover.index import MasterIndex
from datamover.jobs import BackupOptions, RestoreOptions
from datamover.repository import Repository

MiB = 1024 * 1024
PASSWORD = "correct horse battery staple"  # the conftest's repository password


def test_budget_blocks_until_bytes_are_released() -> None:
    budget = ByteBudget(100)
    assert budget.acquire(60) == 60
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(budget.acquire(50)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not got
    budget.release(60)
    waiter.join(5)
    assert got == [50] and budget.in_use == 50


def test_an_oversized_request_is_clipped_and_proceeds_alone() -> None:
    budget = ByteBudget(100)
    with budget.reserve(1000):
        assert budget.in_use == 100
    assert budget.in_use == 0


def test_plan_stays_inside_the_limit_and_refuses_impossible_ones() -> None:
    plan = plan_memory(512, pack_size=16 * MiB, pack_buffers=10, max_chunk=8 * MiB, workers=3)
    assert plan.fixed + plan.read_buffers + plan.in_flight + 3 * 3 * 8 * MiB <= 512 * MiB
    assert plan.read_buffers >= 16 * MiB and plan.in_flight >= 16 * MiB
    with pytest.raises(ValueError, match="too small"):
        plan_memory(512, pack_size=64 * MiB, pack_buffers=10, max_chunk=8 * MiB, workers=3)
    with pytest.raises(ValueError, match=r"512\.\.8192"):
        plan_memory(256, pack_size=MiB, pack_buffers=1, max_chunk=MiB, workers=1)


def test_the_repositorys_index_is_planned_for() -> None:
    sizes = {"pack_size": 16 * MiB, "pack_buffers": 4, "max_chunk": 8 * MiB, "workers": 2}
    without = plan_memory(1024, **sizes)
    with_index = plan_memory(1024, index=200 * MiB, **sizes)
    assert with_index.fixed == without.fixed + 200 * MiB
    assert with_index.in_flight + with_index.read_buffers == (
        without.in_flight + without.read_buffers - 200 * MiB
    )
    with pytest.raises(ValueError, match="the repository's index of 800 MiB"):
        plan_memory(1024, index=800 * MiB, **sizes)


def test_a_run_keeps_the_cycle_collector_off_its_long_lived_objects() -> None:
    """What exists is frozen and young objects are collected rarely while runs go on; both
    undone when the last of overlapping runs ends (a worker process runs several)."""
    before = gc.get_threshold()
    first, second = long_lived_objects_left_alone(), long_lived_objects_left_alone()
    first.__enter__()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (50_000, *before[1:])
    second.__enter__()
    first.__exit__(None, None, None)  # the first run ends while the second goes on
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (50_000, *before[1:])
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_worker_processes_fit_the_limit_or_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default one worker per CPU, fewer when the limit is tight, none at worst; a number
    asked for that does not fit is refused, naming the limit."""
    monkeypatch.setattr(budget, "usable_cpus", lambda: 6)

    def plan(workers_memory: int) -> budget.MemoryPlan:
        return plan_memory(
            512, pack_size=16 * MiB, pack_buffers=2, max_chunk=8 * MiB, workers=3,
            unbudgeted=workers_memory,
        )  # fmt: skip

    assert plan_with_workers(None, 10 * MiB, plan)[0] == 6
    processes, fitted = plan_with_workers(None, 100 * MiB, plan)
    assert 0 < processes < 6
    assert fitted.fixed >= processes * 100 * MiB
    assert plan_with_workers(None, 1000 * MiB, plan)[0] == 0
    assert plan_with_workers(0, 10 * MiB, plan)[0] == 0
    with pytest.raises(ValueError, match="512 MiB is too small"):
        plan_with_workers(6, 100 * MiB, plan)


def _write_large_file(path: Path, size: int, seed: int) -> None:
    """Cheap data whose chunks all differ: a random 64 KiB block, rotated at every MiB."""
    rng = random.Random(seed)
    block = rng.randbytes(64 * 1024)
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            turn = rng.randrange(len(block))
            f.write((block[turn:] + block[:turn]) * 16)


def test_peak_rss_of_a_backup_stays_under_the_limit(tmp_path: Path, repo_dir: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for i in range(3):
        _write_large_file(source / f"large-{i}", 256 * MiB, seed=i)
    for i in range(64):
        (source / f"small-{i:02d}").write_bytes(os.urandom(64 * 1024))
    env = {**os.environ, "LIFEBOAT_PASSWORD": PASSWORD}
    cli = [sys.executable, "-m", "lifeboat.cli.repo"]
    subprocess.run([*cli, "init", "-r", str(repo_dir)], env=env, check=True, capture_output=True)

    proc = subprocess.Popen(
        [*cli, "backup", "-r", str(repo_dir), str(source), "--files=64", "--memory-limit=512"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""
    peak_rss = usage.ru_maxrss * 1024
    assert peak_rss < 512 * MiB, f"peak RSS {peak_rss / MiB:.0f} MiB"


def test_peak_rss_of_a_restore_stays_under_the_limit(tmp_path: Path, repo_dir: Path) -> None:
    """Incompressible files of a few hundred MiB and many small ones, restored with 64
    downloads at once under 512 MiB: the pieces of ranges in flight and the workers' all
    fit."""
    source = tmp_path / "source"
    source.mkdir()
    for i in range(2):
        with open(source / f"large-{i}", "wb") as f:
            for _ in range(160):
                f.write(os.urandom(MiB))
    for i in range(1000):
        (source / f"small-{i:04d}").write_bytes(os.urandom(8 * 1024))
    env = {**os.environ, "LIFEBOAT_PASSWORD": PASSWORD}
    cli = [sys.executable, "-m", "lifeboat.cli.repo"]
    for command in (["init", "-r", str(repo_dir)], ["backup", "-r", str(repo_dir), str(source)]):
        subprocess.run([*cli, *command], env=env, check=True, capture_output=True)
    target = tmp_path / "target"

    proc = subprocess.Popen(
        [*cli, "restore", "latest", "-r", str(repo_dir), "--target", str(target),
         "--files=64", "--memory-limit=512"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""
    peak_rss = usage.ru_maxrss * 1024
    assert peak_rss < 512 * MiB, f"peak RSS {peak_rss / MiB:.0f} MiB"
    assert (target / "large-1").stat().st_size == 160 * MiB
    assert (target / "small-0999").read_bytes() == (source / "small-0999").read_bytes()


def test_backup_and_restore_plan_for_the_loaded_index(
    tmp_path: Path, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index too large for the limit refuses the run, naming it, before anything is
    read or written."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "file").write_text("content")
    snapshot = backup(repo, str(source), BackupOptions(memory_limit_mib=512)).snapshot_id
    blobs_before = repo.index.blob_count(BlobType.DATA)
    monkeypatch.setattr(MasterIndex, "memory", lambda self: 400 * MiB)

    (source / "another").write_text("more content")
    with pytest.raises(ValueError, match="the repository's index of 400 MiB"):
        backup(repo, str(source), BackupOptions(memory_limit_mib=512))
    assert repo.index.blob_count(BlobType.DATA) == blobs_before
    target = tmp_path / "target"
    with pytest.raises(ValueError, match="the repository's index of 400 MiB"):
        restore(repo, snapshot, str(target), RestoreOptions(memory_limit_mib=512))
    assert not target.exists() or not any(target.iterdir())
