"""Turning activity failures into the reasons a person reads in a result."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, FailureError


def activity_failure_reason(err: ActivityError) -> str:
    """The innermost application error's message: what actually went wrong."""
    cause: BaseException | None = err
    reason = str(err)
    while isinstance(cause, FailureError):
        if isinstance(cause, ApplicationError):
            reason = cause.message
        cause = cause.cause
    return reason
