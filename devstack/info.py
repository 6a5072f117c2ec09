"""What a running local stack offers: endpoints, credentials, clusters.

This is the machine-readable form of `lifeboat dev status --json`, and what the pytest
fixtures hand to tests. It holds only development credentials made up by `dev up`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TemporalInfo(_Frozen):
    address: str
    namespace: str = "default"
    ui_url: str


class S3Info(_Frozen):
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def repo_string(self, prefix: str) -> str:
        """The `-r` value that restic and `lifeboat repo` both accept."""
        return f"s3:{self.endpoint}/{self.bucket}/{prefix.strip('/')}"


class AwsInfo(_Frozen):
    endpoint: str
    region: str = "us-east-1"
    # moto accepts any credentials; these are its documented test values, not secrets.
    access_key: str = "testing"
    secret_key: str = "testing"  # noqa: S105


class NodeInfo(_Frozen):
    name: str
    kubelet_pods_dir: Path


class ClusterInfo(_Frozen):
    name: str
    api_url: str
    kubeconfig: Path
    state_dir: Path
    nodes: tuple[NodeInfo, ...]


class StackInfo(_Frozen):
    home: Path
    temporal: TemporalInfo
    s3: S3Info
    aws: AwsInfo
    clusters: dict[str, ClusterInfo]
