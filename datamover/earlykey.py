"""Deriving the user key from a remembered key file while the program starts.

scrypt costs about half a second and `hashlib.scrypt` releases the GIL, so a command that
starts it first, from the key file the cache remembers (`datamover.cache`), gets it done on
another CPU while it imports the rest and reaches the repository. `datamover.keys` then
uses it only if the repository still holds that key file, byte for byte. Light on purpose:
the standard library and the cache only, so that it can start before the rest is imported.
"""

from __future__ import annotations

import base64
import json
import threading

from datamover.cache import RepositoryCache
from datamover.kdf import ScryptParams, scrypt_derive


class EarlyKey:
    """A key derivation running in a thread, from a remembered key file."""

    def __init__(self, name: str, document: bytes, password: str) -> None:
        self.name = name
        self.document = document
        self._derived: bytes | None = None
        self._thread = threading.Thread(
            target=self._derive, args=(password,), name="key-derivation", daemon=True
        )
        self._thread.start()

    @classmethod
    def start(cls, cache: RepositoryCache, password: str) -> EarlyKey | None:
        """The derivation for the repository's remembered key file, or None if none is."""
        remembered = cache.key_file()
        if remembered is None:
            return None
        return cls(*remembered, password)

    def _derive(self, password: str) -> None:
        try:
            doc = json.loads(self.document)
            params = ScryptParams(n=int(doc["N"]), r=int(doc["r"]), p=int(doc["p"]))
            salt = base64.b64decode(doc["salt"])
        except (ValueError, KeyError, TypeError):
            return  # not a key file we can use: the normal path will say what is wrong
        self._derived = scrypt_derive(password, salt, params)

    def derived(self) -> bytes | None:
        """The user key's bytes (waiting for them), or None if the remembered file was
        unusable."""
        self._thread.join()
        return self._derived
