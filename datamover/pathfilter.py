"""restic's include and exclude patterns, for choosing what a restore writes.

A pattern is matched against a node's path inside the snapshot (``/dir/file``), one path
component per pattern component, as restic's `internal/filter` does, so a pattern pasted
from a `restic restore` command line selects the same files:

* components follow Go's `filepath.Match`: ``*``, ``?``, ``[a-z]``, ``[^a-z]``, ``\\x``;
* ``**`` stands for any number of directories;
* a pattern starting with ``/`` is anchored at the snapshot's root, others match at any
  depth; either way a match of a directory is a match of everything below it.

Written here, not taken from a library: Python's `fnmatch` has other classes (``[!a]``)
and no escapes, and no glob library on PyPI follows restic's component rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_SPECIAL = frozenset("\\[]*?")


class PatternError(ValueError):
    """A pattern Go's `filepath.Match` would refuse."""


@dataclass(frozen=True, slots=True)
class _Part:
    text: str
    regex: re.Pattern[str] | None
    """None when the component has no wildcard: compared as it is."""

    def matches(self, component: str) -> bool:
        if self.regex is None:
            return self.text == component
        return self.regex.fullmatch(component) is not None


Pattern = tuple[_Part, ...]
_ANY_COMPONENT = _Part("*", re.compile(r"[^/]*"))


def parse_pattern(pattern: str) -> Pattern:
    """The pattern's components, cleaned as Go's `filepath.Clean` does; PatternError if
    one is malformed."""
    parts = []
    for text in _clean(pattern).split("/"):
        regex = re.compile(_component_regex(pattern, text)) if _SPECIAL & set(text) else None
        parts.append(_Part(text, regex))
    return tuple(parts)


@dataclass(frozen=True, slots=True)
class PathSelection:
    """What `restic restore --include/--exclude` selects (the two are exclusive)."""

    include: tuple[Pattern, ...] = ()
    exclude: tuple[Pattern, ...] = ()
    ignore_case_include: tuple[Pattern, ...] = ()
    ignore_case_exclude: tuple[Pattern, ...] = ()

    @classmethod
    def of(
        cls,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        ignore_case_include: Sequence[str] = (),
        ignore_case_exclude: Sequence[str] = (),
    ) -> PathSelection | None:
        """None when nothing is filtered (empty patterns are ignored, as restic does)."""
        selection = cls(
            _parse_all(include),
            _parse_all(exclude),
            _parse_all(p.lower() for p in ignore_case_include),
            _parse_all(p.lower() for p in ignore_case_exclude),
        )
        return None if selection == cls() else selection

    def select(self, item: str, is_dir: bool) -> tuple[bool, bool]:
        """Whether the node at `item` is restored, and whether its children may be."""
        components = item.split("/")
        lowered = (
            item.lower().split("/") if self.ignore_case_include or self.ignore_case_exclude else []
        )
        if self.include or self.ignore_case_include:
            selected, below = _matches(self.include, components)
            selected_i, below_i = _matches(self.ignore_case_include, lowered)
            return selected or selected_i, is_dir and (below or below_i)
        excluded = any(_match(p, components) for p in self.exclude) or any(
            _match(p, lowered) for p in self.ignore_case_exclude
        )
        return not excluded, is_dir and not excluded


def _parse_all(patterns: Iterable[str]) -> tuple[Pattern, ...]:
    return tuple(parse_pattern(p) for p in patterns if p)


def _matches(patterns: tuple[Pattern, ...], components: list[str]) -> tuple[bool, bool]:
    """restic's `filter.ListWithChild`: any pattern matches; and whether a child's may."""
    matched = child_may_match = False
    for pattern in patterns:
        matched = matched or _match(pattern, components)
        child_may_match = child_may_match or _child_may_match(pattern, components)
        if matched and child_may_match:
            break
    return matched, child_may_match


def _match(pattern: Pattern, components: list[str]) -> bool:
    star = _double_star(pattern)
    if star is not None:
        # `**` stands for no component, then one, two, ... (each as `*`).
        for extra in range(len(components) - len(pattern) + 2):
            expanded = pattern[:star] + (_ANY_COMPONENT,) * extra + pattern[star + 1 :]
            if _match(expanded, components):
                return True
        return False
    if not pattern:
        return not components
    if len(pattern) > len(components):
        return False
    # An absolute pattern (first component empty) only matches from the root; a relative
    # one anywhere. A match of the first components is a match of the path.
    last_offset = 0 if pattern[0].text == "" else len(components) - len(pattern)
    return any(
        all(part.matches(components[offset + i]) for i, part in enumerate(pattern))
        for offset in range(last_offset, -1, -1)
    )


def _child_may_match(pattern: Pattern, components: list[str]) -> bool:
    if pattern[0].text != "":
        return True  # a relative pattern may match at any depth below
    star = _double_star(pattern)
    if star is not None and len(components) >= star:
        components = components[:star]
    length = min(len(components), len(pattern))
    return _match(pattern[:length], components)


def _double_star(pattern: Pattern) -> int | None:
    return next((i for i, part in enumerate(pattern) if part.text == "**"), None)


def _clean(pattern: str) -> str:
    """Go's `filepath.Clean`: no empty, `.` or resolvable `..` components."""
    rooted = pattern.startswith("/")
    out: list[str] = []
    for part in pattern.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and out and out[-1] != "..":
            out.pop()
        elif part == ".." and rooted:
            continue
        else:
            out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _component_regex(pattern: str, text: str) -> str:
    """A regular expression for one component of Go's `filepath.Match` syntax."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            if i + 1 == len(text):
                raise PatternError(f"invalid pattern {pattern!r}: it ends with a backslash")
            i += 1
            out.append(re.escape(text[i]))
        elif char == "[":
            i, regex = _class_regex(pattern, text, i + 1)
            out.append(regex)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _class_regex(pattern: str, text: str, i: int) -> tuple[int, str]:
    """A character class starting after its `[`: where it ends, and its regex."""
    negated = i < len(text) and text[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    while True:
        if i >= len(text):
            raise PatternError(f"invalid pattern {pattern!r}: '[' without ']'")
        if text[i] == "]" and ranges:
            return i + 1, ("[^" if negated else "[") + "".join(ranges) + "]"
        i, low = _class_char(pattern, text, i)
        high = low
        if i < len(text) and text[i] == "-":
            i, high = _class_char(pattern, text, i + 1)
            if high < low:
                raise PatternError(f"invalid pattern {pattern!r}: range {low}-{high}")
        ranges.append(re.escape(low) + ("-" + re.escape(high) if high != low else ""))


def _class_char(pattern: str, text: str, i: int) -> tuple[int, str]:
    if i >= len(text) or text[i] in "-]":
        raise PatternError(f"invalid pattern {pattern!r}: bad character class")
    if text[i] == "\\":
        i += 1
        if i >= len(text):
            raise PatternError(f"invalid pattern {pattern!r}: it ends with a backslash")
    return i + 1, text[i]
