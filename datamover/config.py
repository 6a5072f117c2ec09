"""The repository's ``config`` file: format version, repository id, chunker polynomial."""

from __future__ import annotations

import secrets

from pydantic import BaseModel, field_validator

REPO_VERSION = 2
CHUNKER_POLYNOMIAL_DEGREE = 53


class RepoConfig(BaseModel):
    version: int
    id: str
    chunker_polynomial: str
    """restic's Rabin polynomial (hex). Lifeboat chunks with FastCDC and ignores it, but
    restic refuses a repository without a valid one and uses it when it backs up here."""

    @field_validator("id")
    @classmethod
    def _hex_id(cls, value: str) -> str:
        bytes.fromhex(value)
        return value

    @classmethod
    def new(cls) -> RepoConfig:
        return cls(
            version=REPO_VERSION,
            id=secrets.token_hex(32),
            chunker_polynomial=f"{random_irreducible_polynomial():x}",
        )


def _mulmod(a: int, b: int, modulus: int) -> int:
    """a*b mod modulus over GF(2), polynomials as int bit sets."""
    degree = modulus.bit_length() - 1
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a >> degree & 1:
            a ^= modulus
    return result


def _gcd(a: int, b: int) -> int:
    while b:
        while a.bit_length() >= b.bit_length() and a:
            a ^= b << (a.bit_length() - b.bit_length())
        a, b = b, a
    return a


def is_irreducible(poly: int) -> bool:
    """Ben-Or's test: f is irreducible iff gcd(f, x^(2^i) - x) = 1 for i <= deg/2."""
    degree = poly.bit_length() - 1
    power = 2  # x
    for _ in range(degree // 2):
        power = _mulmod(power, power, poly)
        if _gcd(poly, power ^ 2) != 1:
            return False
    return True


def random_irreducible_polynomial() -> int:
    """A random irreducible polynomial of degree 53, as restic's chunker picks one."""
    while True:
        candidate = (
            secrets.randbits(CHUNKER_POLYNOMIAL_DEGREE) | (1 << CHUNKER_POLYNOMIAL_DEGREE) | 1
        )
        if is_irreducible(candidate):
            return candidate
