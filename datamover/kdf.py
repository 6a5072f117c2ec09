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


MAX_MEMORY = 1024 * 1024 * 1024
"""The most memory a key file's parameters may ask scrypt for. restic calibrates its own to
~60 MiB; a key file asking for more is damaged or hostile, and libsodium fails on what it
cannot allocate without saying why."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters, stored in each key file (restic's defaults). ValueError,
    naming the parameter and what it may be, for parameters scrypt cannot take."""

    n: int = 32768
    r: int = 8
    p: int = 4

    def __post_init__(self) -> None:
        n, r, p = self.n, self.r, self.p
        if n < 2 or n & (n - 1):
            raise ValueError(f"scrypt's N must be a power of two from 2 up, not {n}")
        if r < 1 or p < 1 or r * p >= 1 << 30:
            raise ValueError(f"scrypt's r and p must be at least 1, r*p below 2^30, not {r}, {p}")
        if _memory(n, r, p) > MAX_MEMORY:
            raise ValueError(
                f"scrypt's N={n}, r={r}, p={p} need {_memory(n, r, p) >> 20} MiB; "
                f"at most {MAX_MEMORY >> 20} MiB is allowed"
            )


def _memory(n: int, r: int, p: int) -> int:
    """What scrypt with these parameters takes, and all it may."""
    return 128 * r * (n + p + 2)


def scrypt_derive(password: str, salt: bytes, params: ScryptParams) -> bytes:
    """The 64 bytes of a user key. (The GIL is let go meanwhile.)"""
    n, r, p = params.n, params.r, params.p
    return crypto_pwhash_scryptsalsa208sha256_ll(
        password.encode(), salt, n, r, p, dklen=DERIVED_SIZE, maxmem=_memory(n, r, p)
    )
