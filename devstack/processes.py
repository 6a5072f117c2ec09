"""Start the stack's servers as detached processes and stop exactly those.

A process is remembered by pid *and* start time, so `dev down` never signals a process that
merely reused a pid after the stack's own process died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict


class ManagedProcess(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    pid: int
    create_time: float
    log: Path

    def handle(self) -> psutil.Process | None:
        """The live process, or None once it has exited (or its pid was reused)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.5:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.NoSuchProcess:
            return None

    @property
    def alive(self) -> bool:
        return self.handle() is not None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str,
    command: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start `command` in its own session, detached from our terminal, output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    return ManagedProcess(
        name=name, pid=proc.pid, create_time=psutil.Process(proc.pid).create_time(), log=log
    )


def stop(process: ManagedProcess, *, timeout: float = 15.0) -> None:
    """SIGTERM the process's group (it leads its own session), SIGKILL what outlives `timeout`."""
    proc = process.handle()
    if proc is None:
        return
    group = [proc, *proc.children(recursive=True)]
    _signal_group(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(group, timeout=timeout)
    if alive:
        _signal_group(process.pid, signal.SIGKILL)
        for leftover in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                leftover.kill()
        psutil.wait_procs(alive, timeout=5)
    _reap(process.pid)


def kill(process: ManagedProcess, *, timeout: float = 30.0) -> None:
    """SIGKILL the process alone (a crash, as tests simulate one) and return once it is
    gone, reaped if it was our child. The signal is only queued: until the process has
    exited, `alive` still says True (so `up` would not start it again), and a zombie still
    answers `kill(pid, 0)` (so restic would not take its repository lock for stale)."""
    if not process.alive:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while process.alive:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.name} (pid {process.pid}) outlived SIGKILL")
        time.sleep(0.02)
    _reap(process.pid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the process was our own child (the test fixtures' case)."""
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
