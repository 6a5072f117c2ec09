"""Open the restic-format repository of a `StorageLocation`, resolving its secret references.

Secrets are read here, on the worker that needs them, and registered with the log redactor
before anything can print them.
"""

from __future__ import annotations

from datamover.backend import open_backend
from datamover.errors import RepositoryExistsError, RepositoryNotFoundError
from datamover.repository import Repository
from lifeboat.logging_setup import register_secret
from lifeboat.models import StorageLocation


def _credentials(location: StorageLocation) -> tuple[str | None, str | None]:
    if location.credentials is None:
        return None, None  # the default AWS chain of this worker
    access = location.credentials.access_key_id.read().get_secret_value()
    secret = location.credentials.secret_access_key.read().get_secret_value()
    register_secret(access)
    register_secret(secret)
    return access, secret


def _password(location: StorageLocation) -> str:
    password = location.password.read().get_secret_value()
    register_secret(password)
    return password


def open_repository(
    location: StorageLocation, *, create: bool = False, max_pending_packs: int = 4
) -> Repository:
    """The location's repository; with `create`, initialise it when it does not exist yet."""
    access, secret = _credentials(location)
    backend = open_backend(
        location.repository(), access_key=access, secret_key=secret, region=location.region
    )
    password = _password(location)
    try:
        return Repository.open(backend, password, max_pending_packs=max_pending_packs)
    except RepositoryNotFoundError:
        if not create:
            raise
    try:
        return Repository.init(backend, password, max_pending_packs=max_pending_packs)
    except RepositoryExistsError:  # another worker initialised it a moment ago
        return Repository.open(backend, password, max_pending_packs=max_pending_packs)
