"""Kubernetes label keys, values and label selectors, checked as the API server checks them.

A selector is kept as the string a person typed (it is what the API server takes in
``labelSelector=``); :func:`parse_label_selector` checks its syntax and gives the parsed
requirements to code that filters objects itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from lifeboat.models.common import dns_subdomain_problem
from lifeboat.models.constraints import Check
from lifeboat.models.errors import invalid, show

LABEL_NAME_MAX = 63
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
SELECTOR_FORMS = "key=value, key==value, key!=value, key in (v1,v2), key notin (v1,v2), key, !key"
_KEY = r"[^\s!=(),]+"
_SET_BASED = re.compile(rf"(?P<key>{_KEY})\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)")
_EQUALITY = re.compile(rf"(?P<key>{_KEY})\s*(?P<op>==|=|!=)\s*(?P<value>[^\s!=(),]*)")
_EXISTS = re.compile(rf"(?P<op>!?)\s*(?P<key>{_KEY})")


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a label key (``[prefix/]name``), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return "has an empty prefix before '/'"
    if slash:
        problem = dns_subdomain_problem(prefix)
        if problem is not None:
            return f"has an invalid prefix {prefix!r}: it {problem}"
    return _label_name_problem(name, "name")


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a label value (empty, or a name of at most 63 characters), or None."""
    return _label_name_problem(value, "value") if value else None


def _label_name_problem(name: str, what: str) -> str | None:
    if not name:
        return f"has an empty {what}"
    if len(name) > LABEL_NAME_MAX:
        return f"has a {what} of {len(name)} characters; at most {LABEL_NAME_MAX} are allowed"
    if _LABEL_NAME.fullmatch(name) is None:
        return (
            f"has an invalid {what} {name!r}: letters, digits, '-', '_' and '.' are allowed, "
            "starting and ending with a letter or digit"
        )
    return None


class SelectorOperator(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True)
class LabelRequirement:
    """One comma-separated term of a selector."""

    key: str
    operator: SelectorOperator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.operator:
            case SelectorOperator.EXISTS:
                return present
            case SelectorOperator.DOES_NOT_EXIST:
                return not present
            case SelectorOperator.EQUALS | SelectorOperator.IN:
                return present and labels[self.key] in self.values
            case SelectorOperator.NOT_EQUALS | SelectorOperator.NOT_IN:
                return not present or labels[self.key] not in self.values


def parse_label_selector(text: str) -> tuple[LabelRequirement, ...]:
    """The requirements of a selector; an empty selector selects everything.

    Raises ``ValueError`` naming the term at fault and the forms allowed.
    """
    if not text.strip():
        return ()
    return tuple(_parse_requirement(term.strip()) for term in _split_terms(text))


def selector_matches(requirements: tuple[LabelRequirement, ...], labels: Mapping[str, str]) -> bool:
    return all(requirement.matches(labels) for requirement in requirements)


def _split_terms(text: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth > 1:
                raise ValueError("nested parentheses are not allowed")
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("')' without a matching '('")
        elif char == "," and depth == 0:
            terms.append(text[start:index])
            start = index + 1
    if depth:
        raise ValueError("'(' is never closed")
    terms.append(text[start:])
    return terms


def _parse_requirement(term: str) -> LabelRequirement:
    if not term:
        raise ValueError("it has an empty term (two commas in a row, or one at an end)")
    if match := _SET_BASED.fullmatch(term):
        values = [value.strip() for value in match["values"].split(",")]
        if values == [""]:
            raise ValueError(f"term {term!r} has an empty set of values")
        operator = SelectorOperator.IN if match["op"] == "in" else SelectorOperator.NOT_IN
        return _requirement(term, match["key"], operator, values)
    if match := _EQUALITY.fullmatch(term):
        operator = SelectorOperator.NOT_EQUALS if match["op"] == "!=" else SelectorOperator.EQUALS
        return _requirement(term, match["key"], operator, [match["value"]])
    if match := _EXISTS.fullmatch(term):
        operator = SelectorOperator.DOES_NOT_EXIST if match["op"] else SelectorOperator.EXISTS
        return _requirement(term, match["key"], operator, [])
    raise ValueError(f"term {term!r} has none of the allowed forms")


def _requirement(
    term: str, key: str, operator: SelectorOperator, values: list[str]
) -> LabelRequirement:
    problem = label_key_problem(key)
    if problem is not None:
        raise ValueError(f"term {term!r}: key {key!r} {problem}")
    for value in values:
        problem = label_value_problem(value)
        if problem is not None:
            raise ValueError(f"term {term!r}: value {value!r} {problem}")
    return LabelRequirement(key, operator, frozenset(values))


def _label_selector(text: str) -> str:
    try:
        parse_label_selector(text)
    except ValueError as exc:
        raise invalid(
            "label_selector",
            f"{show(text)} is not a valid label selector: {exc}; "
            f"allowed comma-separated terms: {SELECTOR_FORMS}",
        ) from None
    return text


def _label_key(key: str) -> str:
    problem = label_key_problem(key)
    if problem is not None:
        raise invalid("label_key", f"{show(key)} is not a valid label key: it {problem}")
    return key


def _label_value(value: str) -> str:
    problem = label_value_problem(value)
    if problem is not None:
        raise invalid("label_value", f"{show(value)} is not a valid label value: it {problem}")
    return value


LabelSelectorText = Annotated[
    str, Check(_label_selector, {"examples": ["app=web,tier in (db,cache)"]})
]
"""A Kubernetes label selector: equality-based and set-based terms, comma-separated."""

LabelKey = Annotated[str, Check(_label_key)]
LabelValue = Annotated[str, Check(_label_value)]
