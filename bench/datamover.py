"""Lifeboat's data mover against restic 0.14, on the same data and the same S3 server.

    .venv/bin/python bench/datamover.py [--size-mb 1024] [--small-files 100000]

Starts its own SeaweedFS (devstack's `weed mini` command line, on free loopback ports),
generates the datasets, and for each dataset runs, with each tool as a subprocess through its
CLI: a full backup, an incremental backup after `make_dataset.py --mutate 1`, and a restore.
Each phase runs `--repeat` times, the tools taking turns to go first, and the median counts:
a single run moves by 10% on a shared 2-vCPU VM. Full backups go into new repositories each
time, incremental backups each follow a mutation of their own (a different seed), restores
go into new directories. Peak RSS is the child's `ru_maxrss` from `wait4`, measured the same
way for both tools (the largest of the runs).
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack import processes
from devstack.info import S3Info
from devstack.ports import free_port
from devstack.services import seaweedfs

MAKE_DATASET = Path(__file__).resolve().parents[2] / "shared" / "bench" / "make_dataset.py"
if not MAKE_DATASET.exists():
    MAKE_DATASET = Path("/work/shared/bench/make_dataset.py")
PASSWORD = "bench-password"  # noqa: S105 - a throwaway repository
MiB = 1024 * 1024


TOOLS = ("restic", "lifeboat")
RESTORES = "restores"
"""Where every restore of a run goes, each into a directory of its own."""


@dataclass
class Run:
    dataset: str
    phase: str
    tool: str
    samples: list[float]
    """Wall-clock seconds of each run."""
    peak_rss: int

    @property
    def seconds(self) -> float:
        return statistics.median(self.samples)


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak RSS (bytes) of a child process; raises if it fails.

    Dirty pages are written out first (untimed): a restore leaves a gigabyte of them, and
    the kernel's writeback would otherwise run during whichever command comes next."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    del out
    return elapsed, usage.ru_maxrss * 1024


def start_seaweedfs(workdir: Path) -> tuple[processes.ManagedProcess, S3Info]:
    ports = seaweedfs.SeaweedPorts(
        **{
            name: free_port([seaweedfs.GRPC_OFFSET])
            for name in ("master", "volume", "filer", "s3", "admin", "webdav")
        }
    )
    s3 = seaweedfs.info(ports, "bench-access", "bench-secret-key")
    proc = processes.spawn(
        "seaweedfs",
        seaweedfs.command(ports, workdir / "weed"),
        log=workdir / "weed.log",
        env=seaweedfs.environment(s3),
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            seaweedfs.healthy(s3)
            return proc, s3
        except Exception:
            if time.monotonic() > deadline:
                processes.stop(proc)
                raise
            time.sleep(0.5)


def stored_bytes(s3: S3Info, prefix: str) -> int:
    client = seaweedfs.client(s3)
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=s3.bucket, Prefix=prefix + "/"
    ):
        total += sum(obj["Size"] for obj in page.get("Contents", []))
    return total


def make_small_files(root: Path, count: int) -> None:
    """`count` files of 512 B to 16 KiB, half text and half random, 1000 per directory."""
    rng = random.Random(5)
    words = b"volume pod node restore backup cluster snapshot namespace ".split()
    for i in range(count):
        directory = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            directory.mkdir(parents=True, exist_ok=True)
        size = rng.randint(512, 16 * 1024)
        if i % 2:
            data = rng.randbytes(size)
        else:
            data = b" ".join(rng.choice(words) for _ in range(size // 6))[:size]
        (directory / f"f{i:06d}.txt").write_bytes(data)


def tree_bytes(root: Path) -> int:
    return sum((Path(d) / f).lstat().st_size for d, _, files in os.walk(root) for f in files)


class Tool:
    def __init__(self, name: str, repo: str, env: dict[str, str], args: argparse.Namespace):
        self.name, self.repo, self.env, self.args = name, repo, env, args

    def cmd(self, *argv: str) -> list[str]:
        if self.name == "restic":
            return ["restic", "-r", self.repo, *argv]
        return [sys.executable, "-m", "lifeboat.cli", "repo", *argv[:1], "-r", self.repo, *argv[1:]]

    def init(self) -> None:
        extra = ["--repository-version", "2"] if self.name == "restic" else []
        measure(self.cmd("init", *extra), self.env)

    def backup(self, source: Path) -> tuple[float, int]:
        if self.name == "restic":
            return measure(self.cmd("backup", "--compression", "auto", str(source)), self.env)
        return measure(
            self.cmd(
                "backup",
                str(source),
                "--files",
                str(self.args.files),
                "--memory-limit",
                str(self.args.memory_limit),
            ),
            self.env,
        )

    def restore(self, target: Path) -> tuple[float, int]:
        if self.name == "restic":
            return measure(self.cmd("restore", "latest", "--target", str(target)), self.env)
        return measure(
            self.cmd(
                "restore",
                "latest",
                "--target",
                str(target),
                "--memory-limit",
                str(self.args.memory_limit),
            ),
            self.env,
        )


def bench_dataset(
    name: str, source: Path, s3: S3Info, workdir: Path, args: argparse.Namespace
) -> list[Run]:
    runs: list[Run] = []
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "RESTIC_PASSWORD": PASSWORD,
        "LIFEBOAT_PASSWORD": PASSWORD,
        "RESTIC_CACHE_DIR": str(workdir / "restic-cache"),
        "LIFEBOAT_CACHE_DIR": str(workdir / "lifeboat-cache"),
        "LIFEBOAT_LOG_LEVEL": "warning",
    }
    stamp = int(time.time())
    rounds = [
        [
            Tool(tool, s3.repo_string(f"bench-{stamp}-{name}-{tool}-{i}"), env, args)
            for tool in TOOLS
        ]
        for i in range(args.repeat)
    ]
    tools = rounds[0]  # the repositories that get the incrementals and are restored
    size = tree_bytes(source)
    measured: dict[tuple[str, str], list[tuple[float, int]]] = {}

    def record(phase: str, tool: Tool, result: tuple[float, int]) -> None:
        measured.setdefault((phase, tool.name), []).append(result)
        print(_line(name, phase, tool.name, *result, size), flush=True)

    for i, round_tools in enumerate(rounds):
        for tool in _taking_turns(round_tools, i):
            tool.init()
            record("full backup", tool, tool.backup(source))
    for i in range(args.repeat):
        mutate(name, source, seed=1 + i)
        size = tree_bytes(source)
        for tool in _taking_turns(tools, i):
            record("incremental", tool, tool.backup(source))
    # Every restore into a new directory, all removed at the end of the run, none before:
    # ext4 without a journal (this VM's root file system) skips inodes freed in the last
    # minutes when it allocates one, scanning them again for every file it creates, so a
    # clean-up would tax the restores after it (100,000 files restored by Lifeboat in 9.3 s
    # two minutes after one, 5.5 s into a fresh file system; restic alike).
    for i in range(args.repeat):
        for tool in _taking_turns(tools, i):
            target = workdir / RESTORES / f"{name}-{tool.name}-{i}"
            shutil.rmtree(target, ignore_errors=True)
            record("restore", tool, tool.restore(target))
    runs += [
        Run(name, phase, tool, [s for s, _ in results], max(r for _, r in results))
        for (phase, tool), results in measured.items()
    ]
    for tool in tools:
        prefix = tool.repo.split("/", 4)[-1]
        print(f"{name:6} stored      {tool.name:8} {stored_bytes(s3, prefix) / MiB:10.1f} MiB")
    return runs


def mutate(dataset: str, root: Path, seed: int) -> None:
    """`make_dataset.py --mutate 1`; for the small files, 1% of them rewritten."""
    if dataset == "mixed":
        subprocess.run(
            [sys.executable, str(MAKE_DATASET), str(root), "--mutate", "1", "--seed", str(seed)],
            check=True,
        )
        return
    rng = random.Random(8 + seed)
    files = sorted(p for p in root.rglob("*.txt"))
    for path in rng.sample(files, max(1, len(files) // 100)):
        path.write_bytes(rng.randbytes(path.stat().st_size))


def _taking_turns(tools: list[Tool], turn: int) -> list[Tool]:
    """The tools in the order of this turn: each goes first as often as the other."""
    return tools if turn % 2 == 0 else tools[::-1]


def _line(dataset: str, phase: str, tool: str, seconds: float, rss: int, size: int) -> str:
    return (
        f"{dataset:6} {phase:11} {tool:8} {seconds:8.2f} s "
        f"{size / MiB / seconds:8.1f} MiB/s  peak RSS {rss / MiB:7.1f} MiB"
    )


def summary(runs: list[Run]) -> None:
    print(
        "\nratio = restic's time / Lifeboat's time (higher is better for Lifeboat); "
        "medians, and in brackets the fastest and slowest run"
    )
    print(f"{'dataset':8}{'phase':13}{'restic s':>22}{'lifeboat s':>22}{'ratio':>8}"
          f"{'restic RSS':>12}{'lifeboat RSS':>14}")  # fmt: skip
    keyed = {(r.dataset, r.phase, r.tool): r for r in runs}
    for dataset, phase in dict.fromkeys((r.dataset, r.phase) for r in runs):
        restic, ours = keyed[(dataset, phase, "restic")], keyed[(dataset, phase, "lifeboat")]
        print(
            f"{dataset:8}{phase:13}{_spread(restic):>22}{_spread(ours):>22}"
            f"{restic.seconds / ours.seconds:8.2f}{restic.peak_rss / MiB:10.0f}MiB"
            f"{ours.peak_rss / MiB:12.0f}MiB"
        )


def _spread(run: Run) -> str:
    if len(run.samples) == 1:
        return f"{run.seconds:.2f}"
    return f"{run.seconds:.2f} [{min(run.samples):.2f}-{max(run.samples):.2f}]"


def compile_lifeboat() -> None:
    """Byte-compile Lifeboat as `pip install` does for an installed package. The checkout
    is an editable install, and with PYTHONDONTWRITEBYTECODE set (as on this VM) every
    command would otherwise compile its changed modules again (~0.1 s), and so would every
    worker process."""
    root = Path(__file__).resolve().parents[1]
    for package in ("datamover", "lifeboat"):
        if not compileall.compile_dir(root / package, quiet=1):
            raise SystemExit(f"cannot byte-compile {package}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=1024, help="mixed dataset size")
    parser.add_argument("--small-files", type=int, default=100_000, help="0 to skip")
    parser.add_argument("--files", type=int, default=24, help="Lifeboat --files")
    parser.add_argument("--memory-limit", type=int, default=1024, help="Lifeboat MiB")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each phase (the median counts)"
    )
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lifeboat-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.platform()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM; Python {platform.python_version()}"
    )
    compile_lifeboat()
    weed, s3 = start_seaweedfs(workdir)
    runs: list[Run] = []
    try:
        if args.size_mb:
            mixed = workdir / "mixed"
            subprocess.run(
                [sys.executable, str(MAKE_DATASET), str(mixed), "--size-mb", str(args.size_mb)],
                check=True,
            )
            runs += bench_dataset("mixed", mixed, s3, workdir, args)
        if args.small_files:
            small = workdir / "small"
            make_small_files(small, args.small_files)
            runs += bench_dataset("small", small, s3, workdir, args)
    finally:
        processes.stop(weed)
        shutil.rmtree(workdir / RESTORES, ignore_errors=True)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    summary(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
