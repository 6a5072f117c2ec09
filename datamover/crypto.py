"""restic's authenticated encryption: AES-256-CTR, then Poly1305-AES over the ciphertext.

A sealed message is ``IV (16) || CIPHERTEXT || MAC (16)``. The IV doubles as the Poly1305-AES
nonce: the one-time Poly1305 key is ``r || AES-128_k(IV)``; Poly1305 clamps ``r`` itself.
"""

from __future__ import annotations

import base64
import hmac
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

from datamover.kdf import ScryptParams, scrypt_derive

IV_SIZE = 16
MAC_SIZE = 16
OVERHEAD = IV_SIZE + MAC_SIZE
"""Bytes a plaintext grows by when sealed."""


class AuthenticationError(Exception):
    """The MAC did not verify: wrong key or modified data."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The repository's keys: AES-256 encryption key and the Poly1305-AES pair (k, r)."""

    encrypt: bytes
    mac_k: bytes
    mac_r: bytes
    _per_thread: threading.local = field(init=False, repr=False, compare=False)
    """Each thread's cipher contexts (see `_contexts`)."""

    def __post_init__(self) -> None:
        if len(self.encrypt) != 32 or len(self.mac_k) != 16 or len(self.mac_r) != 16:
            raise ValueError("invalid key sizes")
        object.__setattr__(self, "_per_thread", threading.local())

    def __repr__(self) -> str:  # never print key material
        return "MasterKey(<secret>)"

    def __reduce__(self) -> tuple[type[MasterKey], tuple[bytes, bytes, bytes]]:
        """Pickled as its three keys (for the worker processes' pipes; see
        `datamover.workerpool`), without the per-thread cipher contexts."""
        return MasterKey, (self.encrypt, self.mac_k, self.mac_r)

    @classmethod
    def random(cls) -> MasterKey:
        return cls(encrypt=os.urandom(32), mac_k=os.urandom(16), mac_r=os.urandom(16))

    @classmethod
    def from_derived(cls, derived: bytes) -> MasterKey:
        """Split 64 KDF bytes the way restic does: encryption key, then k, then r."""
        return cls(encrypt=derived[:32], mac_k=derived[32:48], mac_r=derived[48:64])

    def to_json(self) -> dict[str, Any]:
        """restic's master key JSON (Go encodes []byte as standard base64)."""
        return {
            "mac": {"k": _b64(self.mac_k), "r": _b64(self.mac_r)},
            "encrypt": _b64(self.encrypt),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MasterKey:
        return cls(
            encrypt=base64.b64decode(doc["encrypt"]),
            mac_k=base64.b64decode(doc["mac"]["k"]),
            mac_r=base64.b64decode(doc["mac"]["r"]),
        )

    def _contexts(self) -> _CipherContexts:
        """This thread's cipher contexts: building them costs more than sealing a small
        blob, and a context must not be shared between threads."""
        contexts: _CipherContexts | None = getattr(self._per_thread, "contexts", None)
        if contexts is None:
            contexts = _CipherContexts(
                ctr=Cipher(algorithms.AES(self.encrypt), modes.CTR(bytes(IV_SIZE))).encryptor(),
                mac=Cipher(algorithms.AES(self.mac_k), modes.ECB()).encryptor(),  # noqa: S305
            )
            self._per_thread.contexts = contexts
        return contexts

    def _mac(self, contexts: _CipherContexts, iv: bytes, ciphertext: bytes | memoryview) -> bytes:
        # ECB over one whole block keeps no state between calls: no finalize needed.
        s = contexts.mac.update(iv)
        return Poly1305.generate_tag(self.mac_r + s, ciphertext)

    def seal(self, plaintext: bytes | bytearray | memoryview) -> bytes:
        """Encrypt and authenticate with a fresh random IV."""
        contexts = self._contexts()
        iv = os.urandom(IV_SIZE)
        contexts.ctr.reset_nonce(iv)  # AES-256-CTR from this IV (its own inverse)
        ciphertext = contexts.ctr.update(plaintext)
        return b"".join((iv, ciphertext, self._mac(contexts, iv, ciphertext)))

    def open(self, sealed: bytes | bytearray | memoryview) -> bytes:
        """Verify and decrypt; AuthenticationError if the MAC does not match."""
        if len(sealed) < OVERHEAD:
            raise AuthenticationError("ciphertext too short")
        contexts = self._contexts()
        view = memoryview(sealed)
        iv = bytes(view[:IV_SIZE])
        ciphertext = view[IV_SIZE:-MAC_SIZE]
        if not hmac.compare_digest(self._mac(contexts, iv, ciphertext), view[-MAC_SIZE:]):
            raise AuthenticationError("ciphertext verification failed")
        contexts.ctr.reset_nonce(iv)
        return contexts.ctr.update(ciphertext)


@dataclass(frozen=True, slots=True)
class _CipherContexts:
    ctr: CipherContext
    """AES-256-CTR under the encryption key, re-keyed with each message's IV."""
    mac: CipherContext
    """AES-128-ECB under the MAC key k, for the Poly1305-AES ``s`` of each IV."""


def derive_key(password: str, salt: bytes, params: ScryptParams) -> MasterKey:
    """The user key that seals a key file's master key: 64 scrypt bytes split like restic."""
    return MasterKey.from_derived(scrypt_derive(password, salt, params))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
