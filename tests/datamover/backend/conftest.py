"""A SeaweedFS S3 server for the backend tests.

Temporary: the session `stack` fixture starts the whole stack; until all of it starts
here, these tests run SeaweedFS alone with devstack's own service definition. Replace
`s3` with `stack.s3` once `stack` is reliable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.info import S3Info
from devstack.ports import free_port
from devstack.processes import spawn, stop
from devstack.readiness import wait_until_ready
from devstack.services import seaweedfs


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Info]:
    base = tmp_path_factory.mktemp("seaweedfs")
    offset = [seaweedfs.GRPC_OFFSET]
    ports = seaweedfs.SeaweedPorts(
        master=free_port(offset),
        volume=free_port(offset),
        filer=free_port(offset),
        s3=free_port(offset),
        admin=free_port(offset),
        webdav=free_port(offset),
    )
    info = seaweedfs.info(ports, access_key="lifeboat-test", secret_key="lifeboat-test-secret")
    (base / "data").mkdir()
    process = spawn(
        "seaweedfs",
        seaweedfs.command(ports, base / "data"),
        log=base / "weed.log",
        env=seaweedfs.environment(info),
        cwd=base,
    )
    try:
        wait_until_ready(process, lambda: seaweedfs.healthy(info), timeout=120)
        yield info
    finally:
        stop(process)


@pytest.fixture(scope="session")
def s3_env(s3: S3Info) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": s3.region,
    }
