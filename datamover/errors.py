"""Typed errors of the data mover.

Callers (CLI, activities) map these to exit codes and messages, so every message names
the thing that failed (repository location, pack, blob) and never a secret.
"""

from __future__ import annotations


class DatamoverError(Exception):
    """Base class of every error the data mover raises on purpose."""


class RepositoryNotFoundError(DatamoverError):
    """No repository (no config file, or no bucket) at the given location."""


class RepositoryExistsError(DatamoverError):
    """`init` found a repository already at the location."""


class UnsupportedRepositoryError(DatamoverError):
    """The repository uses a format version or KDF this implementation cannot read."""


class WrongPasswordError(DatamoverError):
    """No key file in the repository opens with the given password."""


class BackendError(DatamoverError):
    """The storage backend failed in a way that is not one of the cases below."""


class BackendUnreachableError(BackendError):
    """The storage endpoint cannot be reached (DNS, connection refused, timeout)."""


class AccessDeniedError(BackendError):
    """The storage endpoint refused the credentials or the operation."""


class FileNotFoundInBackendError(BackendError):
    """A repository file (pack, index, snapshot, ...) does not exist."""


class InvalidRepositoryDataError(DatamoverError):
    """A repository file could not be authenticated, decoded or parsed."""


class PackCorruptedError(InvalidRepositoryDataError):
    """A pack file's header or content does not match what it should be."""

    def __init__(self, pack_id: str, reason: str) -> None:
        super().__init__(f"pack {pack_id} is corrupted: {reason}")
        self.pack_id = pack_id
        self.reason = reason


class BlobCorruptedError(InvalidRepositoryDataError):
    """A blob failed authentication, decompression or its SHA-256 check."""

    def __init__(self, blob_id: str, pack_id: str, reason: str) -> None:
        super().__init__(f"blob {blob_id} in pack {pack_id} is corrupted: {reason}")
        self.blob_id = blob_id
        self.pack_id = pack_id
        self.reason = reason


class BlobNotFoundError(DatamoverError):
    """A blob is referenced but no index lists it."""


class SnapshotNotFoundError(DatamoverError):
    """No snapshot matches the given id, prefix or `latest`."""


class AmbiguousSnapshotIdError(SnapshotNotFoundError):
    """A snapshot id prefix matches more than one snapshot."""


class RepositoryLockedError(DatamoverError):
    """A conflicting lock is held by another process."""
