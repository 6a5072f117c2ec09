"""The configuration every process reads: names resolve, mistakes name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.config import ConfigError, LifeboatConfig, load_config, save_config

VALID = """
temporal: {address: "127.0.0.1:7233"}
clusters:
  prod: {name: prod, kubeconfig: /etc/kube/prod.yaml}
storage_locations:
  default:
    name: default
    bucket: acme-backups
    region: eu-west-1
    password: {env: LIFEBOAT_REPOSITORY_PASSWORD}
"""


def test_valid_config_resolves_names(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(VALID)
    config = load_config(path)
    assert config.cluster("prod").kubelet_pods_dir == "/var/lib/kubelet/pods"
    assert config.storage_location("default").repository().endswith("/acme-backups")


def test_unknown_names_list_the_configured_ones(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(VALID)
    config = load_config(path)
    with pytest.raises(KeyError, match="cluster: unknown cluster 'staging'; configured: prod"):
        config.cluster("staging")
    with pytest.raises(KeyError, match=r"storage_location: .*'archive'; configured: default"):
        config.storage_location("archive")


def test_key_and_name_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(VALID.replace("prod: {name: prod", "prod: {name: production"))
    with pytest.raises(ConfigError, match=r"clusters\.prod\.name: .*'production' differs"):
        load_config(path)


def test_secret_by_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(VALID.replace("{env: LIFEBOAT_REPOSITORY_PASSWORD}", "hunter2-secret"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "storage_locations.default.password" in str(err.value)
    assert "hunter2-secret" not in str(err.value)


def test_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lifeboat dev up"):
        load_config(tmp_path / "nope.yaml")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(VALID)
    config = load_config(path)
    save_config(config, tmp_path / "copy.yaml")
    assert load_config(tmp_path / "copy.yaml") == config
    assert isinstance(config, LifeboatConfig)
