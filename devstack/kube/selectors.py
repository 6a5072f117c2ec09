"""Label and field selectors, in query-string form and in `LabelSelector` object form."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .kinds import KindInfo

Predicate = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case _:
                return not present


_SET_RE = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([^\s!=()]+)\s*(==|=|!=)\s*([^\s,()]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split at commas outside parentheses: `a in (x,y),b` is two terms."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_label_selector(selector: str) -> list[Requirement]:
    requirements = []
    for term in _split_terms(selector):
        if m := _SET_RE.match(term):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(term):
            op = "!=" if m.group(2) == "!=" else "="
            requirements.append(Requirement(m.group(1), op, (m.group(3),)))
        elif m := _EXISTS_RE.match(term):
            requirements.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {term.strip()!r}")
    return requirements


def label_predicate(selector: str | None) -> Predicate:
    requirements = parse_label_selector(selector or "")
    return lambda labels: all(r.matches(labels) for r in requirements)


_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def selector_object_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A `LabelSelector` (matchLabels, matchExpressions); an empty one matches everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        op = _SELECTOR_OPERATORS.get(expr.get("operator", ""), "exists")
        if not Requirement(expr["key"], op, tuple(expr.get("values") or ())).matches(labels):
            return False
    return True


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string a field selector compares against; a missing field reads as ""."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def field_predicate(selector: str | None, kind: KindInfo) -> Callable[[Mapping[str, Any]], bool]:
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector or ""):
        m = _EQ_RE.match(term)
        if not m:
            raise bad_request(f"invalid selector: {selector!r}; can't understand {term!r}")
        label, op, value = m.groups()
        if not kind.supports_field(label):
            raise bad_request(
                f'field label not supported: "{label}" for {kind.kind} ({kind.api_version})'
            )
        checks.append((label, op != "!=", value))
    return lambda obj: all((field_value(obj, f) == v) == eq for f, eq, v in checks)
