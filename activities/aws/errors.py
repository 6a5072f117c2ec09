"""AWS errors as Temporal sees them: retry what may pass, fail at once what cannot.

botocore has already retried throttling and transient errors by the time one reaches us.
A missing permission or a request AWS rejects as invalid will fail the same way on every
attempt, so they become non-retryable errors whose message says what to fix; for a
missing permission, the IAM action (e.g. ``iam:CreateRole``) that the account link's role
needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from temporalio.exceptions import ApplicationError

ACCESS_DENIED = "AccessDenied"
INVALID_REQUEST = "InvalidRequest"
CONFLICT = "AwsConflict"
NON_RETRYABLE_TYPES = [ACCESS_DENIED, INVALID_REQUEST, CONFLICT]

_ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnauthorizedException",
        "NotAuthorized",
    }
)
_INVALID_CODES = frozenset(
    {
        "ValidationError",
        "ValidationException",
        "InvalidParameterException",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidRequestException",
        "InvalidInput",
        "MalformedPolicyDocument",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "LimitExceeded",
        "ResourceLimitExceededException",
        "UnsupportedAvailabilityZoneException",
    }
)


def name_permission(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore `after-call` hook: record the IAM action a failed call needed in its error."""
    error = parsed.get("Error")
    if isinstance(error, dict):
        error["Permission"] = f"{model.service_model.signing_name}:{model.name}"


def permission_of(err: ClientError) -> str:
    error: dict[str, Any] = err.response.get("Error", {})  # type: ignore[assignment]
    return str(error.get("Permission") or err.operation_name)


def translate(err: ClientError) -> Exception:
    code = err.response.get("Error", {}).get("Code", "")
    message = err.response.get("Error", {}).get("Message", "")
    permission = permission_of(err)
    if code in _ACCESS_DENIED_CODES:
        return ApplicationError(
            f"access denied: the account link's role lacks {permission} ({message}); "
            "update the account link (`lifeboat aws update`) or grant it",
            type=ACCESS_DENIED,
            non_retryable=True,
        )
    if code in _INVALID_CODES:
        return ApplicationError(
            f"{permission} rejected the request: {code}: {message}",
            type=INVALID_REQUEST,
            non_retryable=True,
        )
    return err


def conflict(message: str) -> ApplicationError:
    """Something the restore would create exists and is not its own: a person decides."""
    return ApplicationError(message, type=CONFLICT, non_retryable=True)


def invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_REQUEST, non_retryable=True)


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn the AWS errors a retry cannot fix into non-retryable activity errors."""
    try:
        yield
    except ParamValidationError as err:  # botocore refused to send it: a bad value
        raise invalid(f"invalid AWS request: {err}") from None
    except ClientError as err:
        translated = translate(err)
        if translated is err:
            raise
        raise translated from None


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
