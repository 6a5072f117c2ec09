"""Readable, unique names for runs and recovery points."""

from __future__ import annotations

import re
from datetime import datetime

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def utc_stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def backup_workflow_id(cluster: str, when: datetime) -> str:
    """`backup-<cluster>-<utc time>`, the id the client and schedules give backup runs."""
    return f"backup-{cluster}-{utc_stamp(when)}"


def restore_workflow_id(recovery_point: str, when: datetime) -> str:
    """`restore-<recovery point>-<utc time>`: which backup came back, and when."""
    return f"restore-{recovery_point}-{utc_stamp(when)}"


def migration_workflow_id(source: str, target: str, when: datetime) -> str:
    """`migrate-<source>-to-<target>-<utc time>`; its backup's recovery point reads the same."""
    return f"migrate-{source}-to-{target}-{utc_stamp(when)}"


def recovery_point_id(cluster: str, workflow_id: str, now: datetime) -> str:
    """The recovery point takes its run's name (less `backup-`), so each is found from the
    other; a run started by hand under another id still gets a valid, unique one."""
    base = workflow_id.removeprefix("backup-") if workflow_id else f"{cluster}-{utc_stamp(now)}"
    safe = _UNSAFE.sub("-", base).strip("-._") or f"{cluster}-{utc_stamp(now)}"
    return safe[:128]
