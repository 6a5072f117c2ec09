"""`lifeboat replication ...`: replications, each a Temporal Schedule of migrations (see
`lifeboat.replication`)."""

from __future__ import annotations

from lifeboat.cli.scheduled import ScheduledCommands
from lifeboat.replication import REPLICATIONS, ReplicationService

replication = ScheduledCommands(REPLICATIONS, ReplicationService).group(
    "replication",
    "Replications: migrations on a schedule that keep a target cluster in step with a source "
    "(Temporal Schedules `replication-<name>`).",
)
