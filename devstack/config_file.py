"""The Lifeboat configuration of a local stack: its clusters and its storage location.

Secrets go into files beside it (owner-only) and the configuration refers to them, as a
real installation refers to mounted Kubernetes Secrets.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from devstack.info import StackInfo
from lifeboat.config import CONFIG_FILE, LifeboatConfig, TemporalSettings, save_config
from lifeboat.models import Cluster, StorageLocation

STORAGE_LOCATION = "default"
REPOSITORY_PREFIX = "repository"


def secrets_dir(home: Path) -> Path:
    return home / "secrets"


def _write_secret(path: Path, value: str) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value)
    return path


def repository_password_file(home: Path) -> Path:
    """Made once per stack and kept across `up`s, or the repository could not be opened."""
    path = secrets_dir(home) / "repository-password"
    if not path.exists():
        _write_secret(path, secrets.token_urlsafe(24))
    return path


def stack_config(info: StackInfo) -> LifeboatConfig:
    home = info.home
    access = _write_secret(secrets_dir(home) / "s3-access-key-id", info.s3.access_key)
    secret = _write_secret(secrets_dir(home) / "s3-secret-access-key", info.s3.secret_key)
    location = StorageLocation.model_validate(
        {
            "name": STORAGE_LOCATION,
            "endpoint": info.s3.endpoint,
            "bucket": info.s3.bucket,
            "prefix": REPOSITORY_PREFIX,
            "region": info.s3.region,
            "credentials": {
                "access_key_id": {"file": str(access)},
                "secret_access_key": {"file": str(secret)},
            },
            "password": {"file": str(repository_password_file(home))},
        }
    )
    clusters = {
        name: Cluster.model_validate({"name": name, "kubeconfig": str(cluster.kubeconfig)})
        for name, cluster in info.clusters.items()
    }
    return LifeboatConfig(
        temporal=TemporalSettings(
            address=info.temporal.address,
            namespace=info.temporal.namespace,
            ui_url=info.temporal.ui_url,
        ),
        clusters=clusters,
        storage_locations={STORAGE_LOCATION: location},
        aws_endpoint_url=info.aws.endpoint,
    )


def write_stack_config(info: StackInfo) -> Path:
    path = info.home / CONFIG_FILE
    save_config(stack_config(info), path)
    return path
