"""What to back up, where to, how, and for how long: policies and one-off requests."""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import model_validator

from lifeboat.models.base import LifeboatModel
from lifeboat.models.common import DEFAULT_STORAGE_LOCATION, DnsLabel
from lifeboat.models.duration import PositiveDuration, format_duration
from lifeboat.models.errors import FieldErrors
from lifeboat.models.labels import LabelKey, LabelValue
from lifeboat.models.options import BackupOptions
from lifeboat.models.schedule import Schedule
from lifeboat.models.selection import ResourceSelection

DEFAULT_RETENTION = timedelta(days=30)


class BackupSpec(LifeboatModel):
    """The part a policy and a request share; every field but ``cluster`` has a default,
    so ``{"cluster": "dev"}`` is a complete request."""

    cluster: DnsLabel
    """The cluster to back up."""

    storage_location: DnsLabel = DEFAULT_STORAGE_LOCATION
    """The storage location that receives the backup."""

    selection: ResourceSelection = ResourceSelection()
    """Which objects; everything by default."""

    options: BackupOptions = BackupOptions()
    """Volume handling and data mover limits."""

    retention: PositiveDuration = DEFAULT_RETENTION
    """How long the recovery point is kept, e.g. ``30d``."""

    snapshot_retention: PositiveDuration | None = None
    """How long kept VolumeSnapshots live, at most ``retention``; ``retention`` when not
    given. Only with ``options.preserve_snapshots`` or ``snapshot_only`` mode."""

    @model_validator(mode="after")
    def _snapshot_retention_fits(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        if self.snapshot_retention is not None:
            if self.snapshot_retention > self.retention:
                errors.add(
                    "snapshot_retention",
                    "snapshot_retention",
                    f"{format_duration(self.snapshot_retention)} is longer than retention "
                    f"({format_duration(self.retention)}); allowed up to the retention",
                    format_duration(self.snapshot_retention),
                )
            if not self.options.keeps_snapshots:
                errors.add(
                    "snapshot_retention",
                    "snapshot_retention",
                    f"{format_duration(self.snapshot_retention)} is given but snapshots are "
                    "deleted after the copy; set options.preserve_snapshots to true or drop it",
                    format_duration(self.snapshot_retention),
                )
        errors.raise_if_any()
        return self

    @property
    def effective_snapshot_retention(self) -> timedelta:
        return self.retention if self.snapshot_retention is None else self.snapshot_retention


class BackupRequest(BackupSpec):
    """Input of the backup workflow: self-contained, so a run never looks anything up that
    could change under it. A run of a policy carries the policy's values."""

    policy: DnsLabel | None = None
    """The policy this run belongs to; none for an ad-hoc backup."""

    labels: dict[LabelKey, LabelValue] = {}
    """Labels recorded on the recovery point, in Kubernetes label syntax."""


class BackupPolicy(BackupSpec):
    """A backup on a schedule; it becomes a Temporal Schedule whose runs are requests."""

    name: DnsLabel
    """The policy's name; the schedule's id derives from it."""

    description: str = ""
    """What the policy is for."""

    schedule: Schedule
    """When it runs."""

    def to_request(
        self, *, retention: timedelta | None = None, labels: dict[str, str] | None = None
    ) -> BackupRequest:
        """The request one run of this policy makes; ``retention`` by hand overrides the
        policy's (and must still be at least its snapshot retention)."""
        spec = self.model_dump(include=set(BackupSpec.model_fields))
        if retention is not None:
            spec["retention"] = retention
        return BackupRequest.model_validate({**spec, "policy": self.name, "labels": labels or {}})
