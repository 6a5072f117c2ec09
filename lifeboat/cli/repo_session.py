"""What every `lifeboat repo` command needs before it touches the repository.

Light on purpose (see `lifeboat.cli.repo`): the settings, the password, the local cache,
and the key derivation started from the cache's remembered key file. It imports neither
pydantic nor the data mover's heavier modules, so that scrypt starts ~0.15 s after the
command does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click

from datamover.cache import RepositoryCache, default_cache_dir
from datamover.earlykey import EarlyKey
from lifeboat.logging_setup import register_secret


@dataclass(frozen=True)
class RepoContext:
    """The options every command accepts, before or after its name (click has checked
    them; a dataclass rather than a pydantic model, for the reason above)."""

    repo: str | None = None
    password_file: Path | None = None
    json_output: bool = False
    cache_dir: Path | None = None
    no_cache: bool = False


@dataclass(frozen=True, repr=False)
class RepoSession:
    """A command's repository, password and cache, with its key derivation under way."""

    settings: RepoContext
    location: str
    password: str
    cache: RepositoryCache | None
    early_key: EarlyKey | None

    def __repr__(self) -> str:  # never print the password
        return f"RepoSession(location={self.location!r})"

    @classmethod
    def start(cls, settings: RepoContext, *, derive: bool = True) -> RepoSession:
        """Check the repository string and password, and start deriving the key from the
        remembered key file (`derive=False` for `init`, which makes a new one)."""
        location = _location(settings)
        password = _password(settings)
        cache = (
            None
            if settings.no_cache
            else RepositoryCache(settings.cache_dir or default_cache_dir(), location)
        )
        early_key = EarlyKey.start(cache, password) if cache is not None and derive else None
        return cls(settings, location, password, cache, early_key)


def _location(settings: RepoContext) -> str:
    if not settings.repo:
        raise click.ClickException("no repository: use -r/--repo or set LIFEBOAT_REPOSITORY")
    return settings.repo


def _password(settings: RepoContext) -> str:
    if settings.password_file is not None:
        try:
            from_file = settings.password_file.read_text().rstrip("\r\n")
            register_secret(from_file)
            return from_file
        except OSError as exc:
            raise click.ClickException(
                f"cannot read the password file {settings.password_file}: {exc.strerror}"
            ) from exc
    password = os.environ.get("LIFEBOAT_PASSWORD") or os.environ.get("RESTIC_PASSWORD")
    if not password:
        raise click.ClickException("no password: set LIFEBOAT_PASSWORD or use --password-file")
    register_secret(password)
    return password
