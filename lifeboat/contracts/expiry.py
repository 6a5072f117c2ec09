"""Inputs and outputs of the expiry of one recovery point (workflow and activities)."""

from __future__ import annotations

from lifeboat.contracts.kube import Seconds
from lifeboat.models import DnsLabel, LifeboatModel, RecoveryPoint, RecoveryPointId

EXPIRE_NOW_SIGNAL = "expire_now"
"""Tells a waiting expiry run to stop waiting."""


class ExpireRecoveryPointInput(LifeboatModel):
    """The whole recovery point travels with the run: its expiry times and the names of its
    VolumeSnapshots must be known even when the catalog cannot be read."""

    recovery_point: RecoveryPoint
    storage_location: DnsLabel
    expire_now: bool = False
    """Skip the waits for the expiry times (`lifeboat backup expire`); a running restore
    of the recovery point is still waited for."""
    restore_poll_seconds: Seconds = 60.0
    """How often a recovery point held by a running restore is checked again."""


class ExpiryResult(LifeboatModel):
    recovery_point: RecoveryPointId
    volume_snapshots_deleted: list[str] = []
    """`namespace/name` of each VolumeSnapshot asked to be deleted (gone ones included)."""
    repository_snapshots_forgotten: list[str] = []
    """Ids of the repository snapshots removed by this run; empty when an earlier run did."""


class ForgetRecoveryPointInput(LifeboatModel):
    storage_location: DnsLabel
    recovery_point: RecoveryPointId


class ForgetRecoveryPointOutput(LifeboatModel):
    removed: list[str]


class RestoresInProgressInput(LifeboatModel):
    recovery_point: RecoveryPointId
