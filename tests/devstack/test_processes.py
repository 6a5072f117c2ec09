"""A process the tests kill as a crash is gone when `kill` returns: `up` would start it
again, and its pid no longer answers (so a repository lock it left is stale)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from devstack import processes


def test_kill_returns_once_the_process_is_gone_and_reaped(tmp_path: Path) -> None:
    # A child that ignores SIGTERM and takes a moment to exit once killed (its memory).
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    code += "x = bytearray(256 << 20); print('ready', flush=True); time.sleep(600)"
    log = tmp_path / "child.log"
    child = processes.spawn("child", [sys.executable, "-c", code], log=log)
    while "ready" not in log.read_text():
        assert child.alive, log.read_text()
        time.sleep(0.05)
    processes.kill(child)
    assert not child.alive
    with pytest.raises(ProcessLookupError):  # reaped: not even a zombie is left
        os.kill(child.pid, 0)


def test_kill_of_a_process_already_gone_does_nothing(tmp_path: Path) -> None:
    child = processes.spawn("child", [sys.executable, "-c", "pass"], log=tmp_path / "log")
    processes.stop(child)
    processes.kill(child)
    assert not child.alive
