"""Annotated markers that validate with Lifeboat's messages and still publish JSON Schema.

Pydantic's ``Field(ge=..., le=..., pattern=...)`` put the bounds in the schema, but their
errors name one bound and never the unit ("greater than or equal to 512"). These markers
run a check that names the value, both bounds and the unit, and add the same constraints
to the JSON Schema that ``lifeboat schema`` prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from lifeboat.models.errors import invalid, show


@dataclass(frozen=True, eq=False)
class Check:
    """Runs ``check`` after the type's own validation; ``schema`` extends its JSON Schema.

    ``check`` returns the (possibly normalised) value or raises an error made with
    :func:`lifeboat.models.errors.invalid`. Compared by identity, so it stays hashable
    (``typing`` hashes ``Annotated`` metadata) although ``schema`` is a dict.
    """

    check: Callable[[Any], Any]
    schema: Mapping[str, Any] = field(default_factory=dict)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(self.schema)
        return json_schema


@dataclass(frozen=True)
class Range:
    """An integer within ``low``..``high`` (inclusive); ``unit`` is shown in messages."""

    low: int
    high: int
    unit: str = ""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minimum=self.low, maximum=self.high)
        return json_schema

    def _check(self, value: int) -> int:
        if not self.low <= value <= self.high:
            unit = f" ({self.unit})" if self.unit else ""
            raise invalid(
                "out_of_range",
                f"{value} is out of range; allowed {self.low} to {self.high}{unit}",
            )
        return value


def matching(kind: str, pattern: str, what: str) -> Check:
    """A string matching ``pattern``; otherwise ``'<value>' is not <what>``."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if compiled.fullmatch(value) is None:
            raise invalid(kind, f"{show(value)} is not {what}")
        return value

    return Check(check, {"pattern": pattern})
