"""The base of every Lifeboat model: strict about field names, quiet about values."""

from __future__ import annotations

import difflib
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails

from lifeboat.models.errors import ERROR_TYPE_PREFIX, invalid


class LifeboatModel(BaseModel):
    """Frozen, no unknown fields, field docstrings become JSON Schema descriptions.

    Inputs are hidden from ``str(ValidationError)`` so an exception that reaches a log never
    prints what a person typed; :func:`lifeboat.models.errors.format_validation_error`
    shows the values that are safe to show.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _name_unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """A typo in a field name is an error that names it and suggests the field meant."""
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if not any(_is_own_unknown_field(error) for error in errors):
                raise
            raise ValidationError.from_exception_data(
                exc.title, [_rewrite(cls, error) for error in errors]
            ) from None


def _is_own_unknown_field(error: Any) -> bool:
    return error["type"] == "extra_forbidden" and len(error["loc"]) == 1


def _rewrite(model: type[BaseModel], error: Any) -> InitErrorDetails:
    loc = error["loc"]
    if _is_own_unknown_field(error):
        field = str(loc[0])
        fields = list(model.model_fields)
        close = difflib.get_close_matches(field, fields, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown field {field!r}; {hint}fields of {model.__name__}: {', '.join(fields)}"
        # The input is the field name, never its value: a misplaced value may be a secret.
        return InitErrorDetails(type=invalid("unknown_field", message), loc=loc, input=field)
    kind: str = error["type"]
    if kind.startswith(ERROR_TYPE_PREFIX):
        details = InitErrorDetails(
            type=invalid(kind.removeprefix(ERROR_TYPE_PREFIX), error["msg"]),
            loc=loc,
            input=error["input"],
        )
    else:
        details = InitErrorDetails(type=kind, loc=loc, input=error["input"])
        if "ctx" in error:
            details["ctx"] = error["ctx"]
    return details
