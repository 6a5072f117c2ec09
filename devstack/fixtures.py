"""pytest fixtures: the real local stack, started once per test session.

Loaded by `tests/conftest.py` as a plugin. The stack lives in a temporary LIFEBOAT_HOME, so
tests never touch a developer's own stack (`~/.lifeboat`) and run beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from devstack import stack as devstack
from devstack.info import StackInfo

TEST_CLUSTERS = ("dev", "dev2")


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lifeboat-home")


@pytest.fixture(scope="session")
def stack(stack_home: Path) -> Iterator[StackInfo]:
    """Temporal dev server, SeaweedFS, moto and the emulated clusters `dev` and `dev2`."""
    result = devstack.up(stack_home, clusters=TEST_CLUSTERS)
    try:
        yield result.info
    finally:
        devstack.down(stack_home)


@pytest.fixture(scope="session")
def s3_env(stack: StackInfo) -> dict[str, str]:
    """The environment a restic or lifeboat subprocess needs to reach the stack's S3."""
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": stack.s3.access_key,
        "AWS_SECRET_ACCESS_KEY": stack.s3.secret_key,
        "AWS_DEFAULT_REGION": stack.s3.region,
    }


LifeboatCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture(scope="session")
def lifeboat_cli(stack: StackInfo) -> LifeboatCli:
    """Runs `lifeboat ARGS --config <the stack's config>` as a person would, in a process
    of its own; `stdin` feeds it."""

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "lifeboat.cli",
                *args,
                "--config",
                str(stack.home / "config.yaml"),
            ],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture
def aws_credentials(stack: StackInfo, monkeypatch: pytest.MonkeyPatch) -> StackInfo:
    """A worker's own AWS credentials, as the default chain finds them, for moto."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", stack.aws.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", stack.aws.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", stack.aws.region)
    return stack


@pytest.fixture(scope="session")
def moto_client(stack: StackInfo) -> Callable[[str], Any]:
    """boto3 clients of the stack's moto server."""

    def make(service: str) -> Any:
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=stack.aws.endpoint,
            region_name=stack.aws.region,
            aws_access_key_id=stack.aws.access_key,
            aws_secret_access_key=stack.aws.secret_key,
        )

    return make


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_client(stack: StackInfo) -> AsyncIterator[Client]:
    yield await Client.connect(stack.temporal.address, namespace=stack.temporal.namespace)


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without interpreter finalization once pytest has reported everything.

    temporalio's Rust runtime keeps native threads that can abort the interpreter while it
    finalizes, which would turn a green session into exit code -6 (see lifeboat.cli.main).
    """
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])
