from __future__ import annotations

import json
import os

import pytest

from datamover.jsonfmt import dumps, go_quote, go_unquote, loads


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


def test_dumps_writes_what_the_standard_library_writes() -> None:
    # Tree ids are hashes of these bytes: identical trees must keep identical ids.
    doc = {
        "nodes": [
            {"name": 'a"b\\c\x01\x7f é 😀 <>&', "size": 2**64 - 1, "content": None},
            {"name": "", "linktarget": "\u2028", "content": [], "ok": True, "x": {}},
        ]
    }
    standard = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert dumps(doc) == standard
    assert loads(standard) == doc
