"""The key derivation of restic's key files: scrypt, from the standard library alone.

A module of its own so that a command can start deriving (`datamover.earlykey`) before it
has imported `cryptography` and the rest of the data mover.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

DERIVED_SIZE = 64
"""32 bytes of AES-256 key, then the Poly1305-AES pair (k, r) of 16 bytes each."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters, stored in each key file (restic's defaults)."""

    n: int = 32768
    r: int = 8
    p: int = 4


def scrypt_derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    """The 64 bytes of a user key (`hashlib.scrypt` releases the GIL while it works)."""
    maxmem = 128 * params.r * (params.n + params.p + 2) + (1 << 20)
    return hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=maxmem,
        dklen=DERIVED_SIZE,
    )
