"""Waiting on the cluster: poll, heartbeat, give up at a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

from activities.kube.heartbeat import heartbeat

POLL_SECONDS = 0.5
"""Short: the waits are for controllers that act within seconds, and a poll is one GET."""


def wait_until_all(checks: list[Callable[[], bool]], timeout_seconds: float, what: str) -> None:
    """Poll until every check holds, heartbeating; TimeoutError (retryable) after the
    timeout."""
    deadline = time.monotonic() + timeout_seconds
    pending = list(checks)
    while True:
        pending = [check for check in pending if not check()]
        heartbeat({"waiting_for": what, "pending": len(pending)})
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout_seconds:g} s waiting for {what} ({len(pending)} left)"
            )
        time.sleep(POLL_SECONDS)
