from __future__ import annotations

import os

import pytest

from datamover.jsonfmt import go_quote, go_unquote


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("plain.txt", "plain.txt"),
        ('a"b\\c', 'a\\"b\\\\c'),
        ("tab\there", "tab\\there"),
        ("üñíçødé ☃", "üñíçødé ☃"),
        ("\x01\x7f", "\\x01\\x7f"),
        ("\u200b", "\\u200b"),
        (os.fsdecode(b"\xff\xfe"), "\\xff\\xfe"),
    ],
)
def test_names_are_quoted_like_go_strconv(name: str, quoted: str) -> None:
    assert go_quote(name) == quoted
    assert go_unquote(quoted) == name
