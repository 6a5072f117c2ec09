"""Fixtures for the data mover tests: small local repositories and the real restic CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from datamover.backend.local import LocalBackend
from datamover.kdf import ScryptParams
from datamover.repository import Repository

PASSWORD = "correct horse battery staple"
FAST_KDF = ScryptParams(n=1024, r=8, p=1)
"""Cheap scrypt for tests; restic reads whatever parameters the key file names."""

Restic = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def fast_kdf() -> ScryptParams:
    return FAST_KDF


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.fixture
def restic(password_file: Path, tmp_path: Path) -> Restic:
    """Run `restic -r REPO ARGS...` (check=True by default); returns the completed process."""

    def run(repo: Path | str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "RESTIC_PASSWORD_FILE": str(password_file),
            "RESTIC_CACHE_DIR": str(tmp_path / "restic-cache"),
        }
        return subprocess.run(
            ["restic", "-r", str(repo), *args],
            env=env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    return run


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo"


@pytest.fixture
def repo(repo_dir: Path) -> Iterator[Repository]:
    """A fresh Lifeboat-initialised local repository with small packs."""
    repository = Repository.init(
        LocalBackend(repo_dir), PASSWORD, pack_size=256 * 1024, kdf_params=FAST_KDF
    )
    yield repository
    repository.close()
