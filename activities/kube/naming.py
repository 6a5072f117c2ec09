"""Names of what a run creates, derived from the run so a retried step finds them again."""

from __future__ import annotations

import hashlib

NAME_PREFIX = "lb"
READABLE_PART_MAX = 40
HASH_LENGTH = 10


def derived_name(kind: str, run_id: str, namespace: str, pvc: str) -> str:
    """``lb-<kind>-<pvc, shortened>-<hash of run, namespace, pvc>``: the same inputs give
    the same name, the PVC stays readable, and the result is a valid pod, PVC and
    VolumeSnapshot name (at most 63 characters, lowercase, ends alphanumeric)."""
    digest = hashlib.sha256(f"{run_id}\0{kind}\0{namespace}\0{pvc}".encode()).hexdigest()
    readable = pvc[:READABLE_PART_MAX].rstrip("-.")
    return f"{NAME_PREFIX}-{kind}-{readable}-{digest[:HASH_LENGTH]}"
