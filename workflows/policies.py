"""Timeouts and retry policies of the activities workflows call, in one place."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from lifeboat.contracts.maintenance import REPOSITORY_LOCKED

NON_RETRYABLE = ["InvalidRequest", "WrongNode", "ValidationError"]

KUBE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=NON_RETRYABLE,
)
"""Kubernetes API calls: transient API errors clear up in seconds."""

COPY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=NON_RETRYABLE,
)
"""Volume copies: a retried copy resumes from its last heartbeated checkpoint."""

CATALOG_RETRY = KUBE_RETRY

KUBE_TIMEOUT = timedelta(minutes=5)
COPY_TIMEOUT = timedelta(hours=12)
COPY_HEARTBEAT = timedelta(seconds=20)
"""A node agent that stops heartbeating this long is presumed dead; the copy is retried."""

AWS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
    non_retryable_error_types=[*NON_RETRYABLE, "AccessDenied", "AwsConflict", "AwsResourceFailed"],
)
"""AWS calls: botocore has retried throttling already; this covers longer outages. A missing
permission, a rejected request or a name taken by someone else fails the step at once."""

AWS_TIMEOUT = timedelta(minutes=5)
AWS_WAIT_TIMEOUT = timedelta(minutes=45)
"""Waiting for a new EKS cluster (typically 10-15 minutes) or node group to become ACTIVE."""
AWS_HEARTBEAT = timedelta(minutes=2)

MAINTENANCE_TIMEOUT = timedelta(hours=6)
"""gc or a check of a large repository on a slow link; a dead worker is noticed sooner,
by the heartbeat."""
MAINTENANCE_HEARTBEAT = timedelta(minutes=1)
MAINTENANCE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=5,
    # A taken lock is waited out by the workflow (visibly, with its own limit), not retried.
    non_retryable_error_types=[*NON_RETRYABLE, REPOSITORY_LOCKED, "RepositoryDamaged"],
)
