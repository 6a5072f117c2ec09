"""Key files: the master key, sealed with a key derived from a password by scrypt."""

from __future__ import annotations

import base64
import getpass
import json
import os
import socket

from pydantic import BaseModel, ConfigDict, Field

from datamover.backend.base import Backend, FileType
from datamover.crypto import AuthenticationError, MasterKey, ScryptParams, derive_key
from datamover.errors import (
    InvalidRepositoryDataError,
    UnsupportedRepositoryError,
    WrongPasswordError,
)
from datamover.gotime import GoTime
from datamover.ids import hash_bytes
from datamover.jsonfmt import dumps

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
) -> str:
    """Write a key file for `master` opened by `password`; returns the key file's name."""
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
    return name


def open_master_key(backend: Backend, password: str) -> MasterKey:
    """Try every key file (as restic does); WrongPasswordError if none opens."""
    tried = 0
    for info in backend.list(FileType.KEYS):
        tried += 1
        try:
            key_file = KeyFile.model_validate_json(backend.load(FileType.KEYS, info.name))
        except ValueError as exc:
            raise InvalidRepositoryDataError(f"key file {info.name} is invalid: {exc}") from exc
        if key_file.kdf != "scrypt":
            raise UnsupportedRepositoryError(f"key file {info.name} uses KDF {key_file.kdf!r}")
        params = ScryptParams(n=key_file.n, r=key_file.r, p=key_file.p)
        user_key = derive_key(password, base64.b64decode(key_file.salt), params)
        try:
            plaintext = user_key.open(base64.b64decode(key_file.data))
        except AuthenticationError:
            continue
        return MasterKey.from_json(json.loads(plaintext))
    if tried == 0:
        raise InvalidRepositoryDataError(f"no key files in {backend.location}")
    raise WrongPasswordError(f"wrong password or no key found for {backend.location}")


def _username() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
