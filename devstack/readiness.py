"""Wait for a started server to answer, failing fast with its log when it dies instead."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from devstack.processes import ManagedProcess


class ServiceFailedError(RuntimeError):
    """A stack service exited or never became healthy; the message carries its log tail."""


def wait_until_ready(
    process: ManagedProcess, check: Callable[[], bool], *, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not answering yet is the expected state while starting
            pass
        if not process.alive:
            raise ServiceFailedError(
                f"{process.name} exited while starting; last log lines ({process.log}):\n"
                f"{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise ServiceFailedError(
                f"{process.name} did not become healthy within {timeout:.0f}s; "
                f"last log lines ({process.log}):\n{process.log_tail()}"
            )
        time.sleep(0.2)


def http_ok(url: str, *, timeout: float = 2.0) -> bool:
    """True when `url` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URLs we built
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError):
        return False
