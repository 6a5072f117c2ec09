"""Heartbeats from code that also runs outside Temporal (tests, the CLI)."""

from __future__ import annotations

from temporalio import activity


def heartbeat(*details: object) -> None:
    """Heartbeat when running as an activity; a no-op when called as a plain function."""
    if activity.in_activity():
        activity.heartbeat(*details)
