"""ExpireRecoveryPoint: remove a recovery point's VolumeSnapshots, then its repository data,
each at its expiry time.

The waits are Temporal timers, so an expiry due while every worker is down happens when
they return. Each step is idempotent (deleting what is gone is done), so a retried or
repeated run is harmless. A recovery point that a running restore reads is kept until
that restore ends.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from lifeboat.contracts.expiry import (
        EXPIRE_NOW_SIGNAL,
        ExpireRecoveryPointInput,
        ExpiryResult,
        ForgetRecoveryPointInput,
        ForgetRecoveryPointOutput,
        RestoresInProgressInput,
    )
    from lifeboat.contracts.kube import DeleteSnapshotsInput, SnapshotRef
    from lifeboat.models import RecoveryPoint
    from workflows.calls import on_cluster, on_control
    from workflows.inputs import parse_input


def preserved_snapshots(point: RecoveryPoint) -> list[SnapshotRef]:
    return [
        SnapshotRef(namespace=v.namespace, pvc=v.pvc, name=v.volume_snapshot)
        for v in point.volumes
        if v.volume_snapshot is not None
    ]


@workflow.defn(name="ExpireRecoveryPoint")
class ExpireRecoveryPointWorkflow:
    def __init__(self) -> None:
        self._now = False

    @workflow.signal(name=EXPIRE_NOW_SIGNAL)
    def expire_now(self) -> None:
        """Cut the remaining waits short: `lifeboat backup expire` on a scheduled expiry."""
        self._now = True

    @workflow.run
    async def run(self, raw: dict[str, Any]) -> ExpiryResult:
        inp = parse_input(ExpireRecoveryPointInput, raw)
        self._now = self._now or inp.expire_now
        point = inp.recovery_point
        poll = timedelta(seconds=inp.restore_poll_seconds)
        deleted: list[str] = []
        snapshots = preserved_snapshots(point)
        if point.snapshot_expires_at is not None and snapshots:
            await self._wait_until(point.snapshot_expires_at)
            await self._wait_for_restores(point.id, poll)
            await on_cluster(
                point.cluster,
                "kube.delete_snapshots",
                DeleteSnapshotsInput(snapshots=snapshots),
                type(None),
                f"Delete the VolumeSnapshots of {point.id}",
            )
            deleted = [f"{s.namespace}/{s.name}" for s in snapshots]
        await self._wait_until(point.expires_at)
        await self._wait_for_restores(point.id, poll)
        forgotten: ForgetRecoveryPointOutput = await on_control(
            "expiry.forget_recovery_point",
            ForgetRecoveryPointInput(
                storage_location=inp.storage_location, recovery_point=point.id
            ),
            ForgetRecoveryPointOutput,
            f"Forget the repository snapshots of {point.id}",
        )
        return ExpiryResult(
            recovery_point=point.id,
            volume_snapshots_deleted=deleted,
            repository_snapshots_forgotten=forgotten.removed,
        )

    async def _wait_until(self, when: datetime) -> None:
        delay = (when - workflow.now()).total_seconds()
        if self._now or delay <= 0:
            return
        with contextlib.suppress(TimeoutError):  # the timeout is the expiry time coming
            await workflow.wait_condition(lambda: self._now, timeout=delay)

    async def _wait_for_restores(self, recovery_point: str, poll: timedelta) -> None:
        while await on_control(
            "expiry.restores_in_progress",
            RestoresInProgressInput(recovery_point=recovery_point),
            int,
            f"Restores of {recovery_point} in progress",
        ):
            await workflow.sleep(poll)
