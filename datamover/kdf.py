"""The key derivation of restic's key files: scrypt, by libsodium (through PyNaCl).

Every command derives a key before its first request can be read, so scrypt's time is
start-up time: libsodium's scrypt takes 0.22 s for restic's parameters on this project's
benchmark machine, OpenSSL's (`hashlib.scrypt`) 0.34 s; the same bytes (a test checks).

A module of its own so that a command can start deriving (`datamover.earlykey`) before it
has imported `cryptography` and the rest of the data mover.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl.bindings import crypto_pwhash_scryptsalsa208sha256_ll

DERIVED_SIZE = 64
"""32 bytes of AES-256 key, then the Poly1305-AES pair (k, r) of 16 bytes each."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters, stored in each key file (restic's defaults)."""

    n: int = 32768
    r: int = 8
    p: int = 4


def scrypt_derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    """The 64 bytes of a user key; ValueError if the parameters are not scrypt's. (The
    GIL is let go meanwhile.)"""
    n, r, p = params.n, params.r, params.p
    memory = 128 * r * (n + p + 2)  # what these parameters take, and all they may
    return crypto_pwhash_scryptsalsa208sha256_ll(
        password.encode(), salt, n, r, p, dklen=DERIVED_SIZE, maxmem=memory
    )
