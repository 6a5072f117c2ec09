"""Validation errors that a person can act on: the field, the value given, what is allowed.

Lifeboat's own checks raise errors of type ``lifeboat.<kind>`` whose message already names
the value and the allowed range, so it is shown as is. Pydantic's built-in errors are
rewritten by :func:`format_validation_error` to add the value given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

ERROR_TYPE_PREFIX = "lifeboat."
_MAX_VALUE_CHARS = 80


def invalid(kind: str, message: str) -> PydanticCustomError:
    """An error of type ``lifeboat.<kind>`` carrying ``message`` verbatim.

    The message goes through a single placeholder, so braces in a user's value are never
    interpreted as further placeholders.
    """
    return PydanticCustomError(ERROR_TYPE_PREFIX + kind, "{message}", {"message": message})


def show(value: object) -> str:
    """How a value given by a person appears in a message: its repr, shortened."""
    text = repr(value.value if isinstance(value, Enum) else value)
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def one_of(allowed: Iterable[object]) -> str:
    """``'a', 'b' or 'c'``: the allowed values, as pydantic lists them for enums."""
    shown = [show(item) for item in allowed]
    if len(shown) < 2:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


class FieldErrors:
    """Collects cross-field errors of one model, each located at the field it is about.

    A model validator that raises a plain ``ValueError`` is reported at the model, not at
    the field; raising a ``ValidationError`` with explicit locations keeps the field path,
    and pydantic prefixes the path of the enclosing models.
    """

    def __init__(self, title: str) -> None:
        self._title = title
        self._errors: list[InitErrorDetails] = []

    def add(self, loc: str | Sequence[str | int], kind: str, message: str, value: Any) -> None:
        location = (loc,) if isinstance(loc, str) else tuple(loc)
        self._errors.append(
            InitErrorDetails(type=invalid(kind, message), loc=location, input=value)
        )

    def raise_if_any(self) -> None:
        if self._errors:
            raise ValidationError.from_exception_data(self._title, self._errors)


def format_validation_error(exc: ValidationError) -> str:
    """One line per error, ``field.path: message``, for the CLI and the client."""
    return "\n".join(
        f"{_path(error['loc'], exc.title)}: {_message(error)}"
        for error in exc.errors(include_url=False)
    )


def _path(loc: tuple[str | int, ...], title: str) -> str:
    if not loc:
        return title
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += " (key)"
        else:
            path += f".{part}" if path else part
    return path


def _message(error: Any) -> str:
    kind: str = error["type"]
    message: str = error["msg"]
    if kind.startswith(ERROR_TYPE_PREFIX):
        return message
    if kind == "missing":
        return "is required"
    value = show(error.get("input"))
    if kind in ("enum", "literal_error"):
        return f"{value} is not allowed; allowed: {error['ctx']['expected']}"
    if kind == "extra_forbidden":
        return f"unknown field (given {value})"
    if message[1:2].islower():
        message = message[:1].lower() + message[1:]
    return f"{message}; given {value}"
