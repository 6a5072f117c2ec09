"""Validate a workflow's input inside the workflow, so bad input fails the run.

If the SDK decoded the model itself, invalid JSON typed into the Temporal UI would fail
each workflow *task* and retry forever; validated here, it fails the *run* at once with an
error naming every bad field, before any activity is scheduled.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from lifeboat.models import format_validation_error

M = TypeVar("M", bound=BaseModel)


def parse_input(model: type[M], raw: Any) -> M:
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApplicationError(
            f"invalid {model.__name__}:\n{format_validation_error(exc)}",
            type="InvalidRequest",
            non_retryable=True,
        ) from None
