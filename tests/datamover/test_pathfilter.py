"""restic's include and exclude patterns, as `restic restore` reads them."""

from __future__ import annotations

import re

import pytest

from datamover.jobs import RestoreOptions
from datamover.pathfilter import PathSelection, PatternError, parse_pattern


@pytest.mark.parametrize(
    ("pattern", "item", "is_dir", "expected"),
    [
        # Anchored at the root: the path and everything below it.
        ("/docs", "/docs", True, (True, True)),
        ("/docs", "/docs/readme", False, (True, False)),
        ("/docs/", "/docs/readme", False, (True, False)),  # cleaned as Go cleans it
        ("/docs", "/other/docs", True, (False, False)),
        ("/docs/readme", "/docs", True, (False, True)),  # on the way to a match
        ("/docs/readme", "/bin", True, (False, False)),
        # Relative: at any depth, so every directory may hold a match.
        ("readme", "/docs/readme", False, (True, False)),
        ("*.txt", "/a", True, (False, True)),
        ("*.txt", "/a/b.txt", False, (True, False)),
        ("*.txt", "/a/b.bin", False, (False, False)),
        ("*.txt", "/x.txt/y", False, (True, False)),
        # `**` stands for any number of directories, none included.
        ("/a/**/c", "/a/c", True, (True, True)),
        ("/a/**/c", "/a/b/x/c", False, (True, False)),
        ("/a/**/c", "/a/b/d", False, (False, False)),
        ("/a/**/c", "/a/b", True, (False, True)),
        # Go's classes, negation with ^ and escapes.
        ("/[a-c]?", "/bz", False, (True, False)),
        ("/[^a-c]?", "/bz", False, (False, False)),
        ("/[^a-c]?", "/dz", False, (True, False)),
        ("/\\*", "/*", False, (True, False)),
        ("/\\*", "/a", False, (False, False)),
        ("/a]", "/a]", False, (True, False)),
    ],
)
def test_include_matches_as_restic_does(
    pattern: str, item: str, is_dir: bool, expected: tuple[bool, bool]
) -> None:
    selection = PathSelection.of(include=[pattern])
    assert selection is not None
    assert selection.select(item, is_dir) == expected


def test_exclude_skips_a_match_and_everything_below_it() -> None:
    selection = PathSelection.of(exclude=["/a/**/c", "*.tmp"])
    assert selection is not None
    assert selection.select("/a", True) == (True, True)
    assert selection.select("/a/b/c", True) == (False, False)
    assert selection.select("/a/b/d", False) == (True, False)
    assert selection.select("/x/y.tmp", False) == (False, False)


def test_ignore_case_patterns_match_any_case() -> None:
    include = PathSelection.of(ignore_case_include=["/DOCS"])
    assert include is not None
    assert include.select("/Docs/README", False) == (True, False)
    exclude = PathSelection.of(ignore_case_exclude=["*.JPG"])
    assert exclude is not None
    assert exclude.select("/photo.jpg", False) == (False, False)
    assert exclude.select("/photo.png", False) == (True, False)


def test_no_patterns_select_everything() -> None:
    assert PathSelection.of() is None
    assert PathSelection.of(include=[""]) is None  # empty patterns are ignored, as in restic
    assert RestoreOptions().selection() is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("a[b", "'[' without ']'"),
        ("x\\", "ends with a backslash"),
        ("[]a]", "bad character class"),
        ("[z-a]", "range z-a"),
    ],
)
def test_a_malformed_pattern_is_refused_naming_it(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=re.escape(reason)) as raised:
        parse_pattern(pattern)
    assert repr(pattern) in str(raised.value)
    with pytest.raises(ValueError, match="include"):
        RestoreOptions(include=[pattern])


def test_include_and_exclude_are_mutually_exclusive() -> None:
    with pytest.raises(ValueError, match="mutually exclusive"):
        RestoreOptions(include=["/a"], ignore_case_exclude=["b"])
