"""API errors as the real server reports them: `Status` objects with reason and code.

Clients branch on `reason` and `code` (the official client raises `ApiException` with
`status` and the body), so these mirror the API server's wording.
"""

from __future__ import annotations

from typing import Any

from .kinds import KindInfo


class ApiError(Exception):
    """An API failure that becomes a `Status` response."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _resource(kind: KindInfo) -> str:
    """`pods` or `deployments.apps`, the way the server names a resource in messages."""
    return f"{kind.plural}.{kind.group}" if kind.group else kind.plural


def _details(kind: KindInfo, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind.plural}
    if kind.group:
        details["group"] = kind.group
    return details


def not_found(kind: KindInfo, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_resource(kind)} "{name}" not found', _details(kind, name))


def already_exists(kind: KindInfo, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{_resource(kind)} "{name}" already exists', _details(kind, name)
    )


def conflict(kind: KindInfo, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_resource(kind)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(kind, name),
    )


def invalid(kind: KindInfo, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; `causes` are (field, message) pairs, as in `details.causes`."""
    text = ", ".join(f"{f}: {m}" for f, m in causes)
    details = {
        **_details(kind, name),
        "kind": kind.kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    }
    return ApiError(422, "Invalid", f'{kind.kind} "{name}" is invalid: {text}', details)


def forbidden(kind: KindInfo, name: str, why: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{_resource(kind)} "{name}" is forbidden: {why}', _details(kind, name)
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def path_not_found(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
