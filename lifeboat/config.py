"""Lifeboat's configuration: the Temporal service, the clusters and the storage locations.

Requests name clusters and storage locations; this file says what the names mean. Every
Lifeboat process reads the same file (`--config`, `$LIFEBOAT_CONFIG`, or
`$LIFEBOAT_HOME/config.yaml`). It holds no secrets: credentials and the repository password
are references to environment variables or files, resolved where they are used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import yaml
from pydantic import Field, ValidationError, model_validator

from lifeboat.models import Cluster, DnsLabel, LifeboatModel, StorageLocation
from lifeboat.models.errors import FieldErrors, format_validation_error

CONFIG_ENV = "LIFEBOAT_CONFIG"
HOME_ENV = "LIFEBOAT_HOME"
DEFAULT_HOME = "~/.lifeboat"
CONFIG_FILE = "config.yaml"


class ConfigError(Exception):
    """The configuration file is missing or invalid; the message says where and why."""


class TemporalSettings(LifeboatModel):
    address: str = "127.0.0.1:7233"
    """host:port of the Temporal frontend."""
    namespace: str = "default"
    ui_url: str | None = None
    """Base URL of the Temporal Web UI, for links in results and the CLI."""


class LifeboatConfig(LifeboatModel):
    temporal: TemporalSettings = TemporalSettings()
    clusters: dict[DnsLabel, Cluster] = Field(default_factory=dict)
    storage_locations: dict[DnsLabel, StorageLocation] = Field(default_factory=dict)
    aws_endpoint_url: str | None = None
    """Send every AWS API call (STS, IAM, EKS, CloudFormation) here instead of AWS: for an
    emulator such as moto in the local stack; unset in a real installation."""

    @model_validator(mode="after")
    def _keys_match_names(self) -> Self:
        errors = FieldErrors(type(self).__name__)
        for key, cluster in self.clusters.items():
            if key != cluster.name:
                errors.add(
                    ("clusters", key, "name"),
                    "config_name",
                    f"{cluster.name!r} differs from its key {key!r}",
                    cluster.name,
                )
        for key, location in self.storage_locations.items():
            if key != location.name:
                errors.add(
                    ("storage_locations", key, "name"),
                    "config_name",
                    f"{location.name!r} differs from its key {key!r}",
                    location.name,
                )
        errors.raise_if_any()
        return self

    def cluster(self, name: str) -> Cluster:
        try:
            return self.clusters[name]
        except KeyError:
            raise KeyError(_unknown("cluster", name, self.clusters)) from None

    def storage_location(self, name: str) -> StorageLocation:
        try:
            return self.storage_locations[name]
        except KeyError:
            raise KeyError(_unknown("storage_location", name, self.storage_locations)) from None


def _unknown(field: str, name: str, known: Mapping[str, object]) -> str:
    allowed = ", ".join(sorted(known)) or "none configured"
    return f"{field}: unknown {field.replace('_', ' ')} {name!r}; configured: {allowed}"


def config_path(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    return Path(os.environ.get(HOME_ENV, DEFAULT_HOME)).expanduser() / CONFIG_FILE


def load_config(path: Path | None = None) -> LifeboatConfig:
    where = config_path(path)
    try:
        raw = yaml.safe_load(where.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"no Lifeboat configuration at {where}; set {CONFIG_ENV} or run `lifeboat dev up`"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from None
    try:
        return LifeboatConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}:\n{format_validation_error(exc)}") from None


def save_config(config: LifeboatConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)
    )
    tmp.replace(path)
