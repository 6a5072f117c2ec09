"""The kubeconfig a client uses to reach an emulated cluster (plain HTTP, a token user).

The token survives restarts (it is read back from the existing file), so kubeconfigs
handed out earlier keep working after the cluster process is started again.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from .store import write_atomically


def existing_token(path: Path, name: str) -> str | None:
    if not path.exists():
        return None
    config: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    for user in config.get("users") or []:
        if user.get("name") == name and (token := (user.get("user") or {}).get("token")):
            return str(token)
    return None


def write_kubeconfig(path: Path, name: str, server: str) -> str:
    """Write the kubeconfig; returns the bearer token the server must accept."""
    token = existing_token(path, name) or secrets.token_urlsafe(24)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}
        ],
        "current-context": name,
        "preferences": {},
    }
    write_atomically(path, yaml.safe_dump(config, sort_keys=False).encode())
    path.chmod(0o600)
    return token
