"""Key files: the master key, sealed with a key derived from a password by scrypt."""

from __future__ import annotations

import base64
import getpass
import json
import os
import socket

from pydantic import BaseModel, ConfigDict, Field

from datamover.backend.base import Backend, FileType
from datamover.cache import RepositoryCache
from datamover.crypto import AuthenticationError, MasterKey, derive_key
from datamover.earlykey import EarlyKey
from datamover.errors import (
    FileNotFoundInBackendError,
    InvalidRepositoryDataError,
    UnsupportedRepositoryError,
    WrongPasswordError,
)
from datamover.gotime import GoTime
from datamover.ids import hash_bytes
from datamover.jsonfmt import dumps
from datamover.kdf import ScryptParams

SALT_SIZE = 64


class KeyFile(BaseModel):
    """restic's key file JSON (``internal/repository/key.go``); bytes are base64 in JSON."""

    model_config = ConfigDict(populate_by_name=True)

    created: GoTime
    username: str = ""
    hostname: str = ""
    kdf: str = "scrypt"
    n: int = Field(alias="N")
    r: int
    p: int
    salt: str
    data: str


def create_key(
    backend: Backend, password: str, master: MasterKey, params: ScryptParams | None = None
) -> tuple[str, bytes]:
    """Write a key file for `master` opened by `password`; returns its name and bytes."""
    params = params or ScryptParams()
    salt = os.urandom(SALT_SIZE)
    user_key = derive_key(password, salt, params)
    sealed = user_key.seal(dumps(master.to_json()))
    key_file = KeyFile(
        created=GoTime.now(),
        username=_username(),
        hostname=socket.gethostname(),
        n=params.n,
        r=params.r,
        p=params.p,
        salt=base64.b64encode(salt).decode("ascii"),
        data=base64.b64encode(sealed).decode("ascii"),
    )
    document = key_file.model_dump_json(by_alias=True).encode()
    name = hash_bytes(document).hex()
    backend.save(FileType.KEYS, name, document)
    return name, document


def open_master_key(
    backend: Backend,
    password: str,
    *,
    cache: RepositoryCache | None = None,
    early: EarlyKey | None = None,
) -> MasterKey:
    """Try the remembered key file first, then every key file (as restic does);
    WrongPasswordError if none opens. The key file that opens is remembered in `cache`."""
    if early is None and cache is not None:
        early = EarlyKey.start(cache, password)
    tried_already = None
    if early is not None:
        master, tried_already = _open_remembered(backend, early)
        if master is not None:
            return master
    tried = 0
    for info in backend.list(FileType.KEYS):
        tried += 1
        if info.name == tried_already:
            continue  # the same bytes and password: scrypt would only say no again
        document = backend.load(FileType.KEYS, info.name)
        key_file = _parse_key_file(info.name, document)
        salt = base64.b64decode(key_file.salt)
        try:
            params = ScryptParams(n=key_file.n, r=key_file.r, p=key_file.p)
        except ValueError as exc:
            raise InvalidRepositoryDataError(f"key file {info.name} is invalid: {exc}") from exc
        user_key = derive_key(password, salt, params)
        master = _unseal(key_file, user_key)
        if master is not None:
            if cache is not None:
                cache.remember_key_file(info.name, document)
            return master
    if tried == 0:
        raise InvalidRepositoryDataError(f"no key files in {backend.location}")
    raise WrongPasswordError(f"wrong password or no key found for {backend.location}")


def _open_remembered(backend: Backend, early: EarlyKey) -> tuple[MasterKey | None, str | None]:
    """The master key through the early derivation, if the repository still holds the
    remembered key file unchanged and the password opens it; and the key file's name if
    the password was tried on it."""
    try:
        document = backend.load(FileType.KEYS, early.name)
    except FileNotFoundInBackendError:
        return None, None
    if document != early.document:
        return None, None
    derived = early.derived()
    if derived is None:
        return None, None
    key_file = _parse_key_file(early.name, document)
    return _unseal(key_file, MasterKey.from_derived(derived)), early.name


def _parse_key_file(name: str, document: bytes) -> KeyFile:
    try:
        key_file = KeyFile.model_validate_json(document)
    except ValueError as exc:
        raise InvalidRepositoryDataError(f"key file {name} is invalid: {exc}") from exc
    if key_file.kdf != "scrypt":
        raise UnsupportedRepositoryError(f"key file {name} uses KDF {key_file.kdf!r}")
    return key_file


def _unseal(key_file: KeyFile, user_key: MasterKey) -> MasterKey | None:
    """The master key sealed in a key file, or None if this user key does not open it."""
    try:
        plaintext = user_key.open(base64.b64decode(key_file.data))
    except AuthenticationError:
        return None
    return MasterKey.from_json(json.loads(plaintext))


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
