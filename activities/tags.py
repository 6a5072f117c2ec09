"""The restic tags Lifeboat puts on repository snapshots.

A recovery point is found, restored and expired from tags alone, so the restic CLI (or a
new control plane with an empty database) can see what each snapshot belongs to.
"""

from __future__ import annotations

from enum import StrEnum

LIFEBOAT = "lifeboat"


class SnapshotKind(StrEnum):
    VOLUME = "volume"
    RESOURCES = "resources"
    CATALOG = "catalog"
    AWS = "aws"


def recovery_point_tag(recovery_point: str) -> str:
    return f"recovery-point={recovery_point}"


def snapshot_tags(
    kind: SnapshotKind,
    *,
    recovery_point: str,
    cluster: str,
    namespace: str | None = None,
    pvc: str | None = None,
) -> tuple[str, ...]:
    tags = [
        LIFEBOAT,
        f"kind={kind.value}",
        recovery_point_tag(recovery_point),
        f"cluster={cluster}",
    ]
    if namespace is not None:
        tags.append(f"namespace={namespace}")
    if pvc is not None:
        tags.append(f"pvc={pvc}")
    return tuple(tags)
