"""Lifeboat's search attributes: every run sets them, so runs can be found by cluster, job,
policy and recovery point in the Temporal UI and through `lifeboat.client`."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CLUSTER = SearchAttributeKey.for_keyword("LifeboatCluster")
JOB = SearchAttributeKey.for_keyword("LifeboatJob")
POLICY = SearchAttributeKey.for_keyword("LifeboatPolicy")
RECOVERY_POINT = SearchAttributeKey.for_keyword("LifeboatRecoveryPoint")

ALL: tuple[SearchAttributeKey[str], ...] = (CLUSTER, JOB, POLICY, RECOVERY_POINT)
