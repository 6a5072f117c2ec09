"""Storage backends and the parser for restic's repository strings.

The S3 backend is imported on first use: boto3 takes ~0.3 s to import, which every
command on a local repository would otherwise pay.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from datamover.backend.base import Backend, FileInfo, FileType
from datamover.backend.local import LocalBackend
from datamover.backend.throttled import ThrottledBackend

if TYPE_CHECKING:
    from datamover.backend.s3 import S3Backend

__all__ = [
    "Backend",
    "FileInfo",
    "FileType",
    "LocalBackend",
    "S3Backend",
    "ThrottledBackend",
    "open_backend",
]


def open_backend(
    repo: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    max_connections: int = 32,
    upload_bytes_per_second: int | None = None,
    download_bytes_per_second: int | None = None,
) -> Backend:
    """A backend for a restic repository string: a local path, ``local:PATH`` or
    ``s3:http(s)://host:port/bucket/prefix``. S3 credentials default to the
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` environment variables, the region to
    ``AWS_DEFAULT_REGION`` or us-east-1. The rates limit the bytes written and read."""
    backend = _open_backend(
        repo,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        max_connections=max_connections,
    )
    if upload_bytes_per_second or download_bytes_per_second:
        return ThrottledBackend(
            backend,
            upload_bytes_per_second=upload_bytes_per_second,
            download_bytes_per_second=download_bytes_per_second,
        )
    return backend


def _open_backend(
    repo: str,
    *,
    access_key: str | None,
    secret_key: str | None,
    region: str | None,
    max_connections: int,
) -> Backend:
    if repo.startswith("s3:"):
        url = urlsplit(repo[3:])
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(
                f"unsupported S3 repository {repo!r}: expected s3:http(s)://host:port/bucket/prefix"
            )
        bucket, _, prefix = url.path.lstrip("/").partition("/")
        if not bucket:
            raise ValueError(f"S3 repository {repo!r} names no bucket")
        from datamover.backend.s3 import S3Backend

        return S3Backend(
            f"{url.scheme}://{url.netloc}",
            bucket,
            prefix,
            access_key=access_key or os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY"),
            region=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            max_connections=max_connections,
        )
    if repo.startswith("local:"):
        repo = repo[len("local:") :]
    if ":" in repo.split("/", 1)[0] and not os.path.exists(repo):
        raise ValueError(f"unsupported repository {repo!r}: only local paths and s3: are supported")
    return LocalBackend(repo)


def __getattr__(name: str) -> Any:
    if name == "S3Backend":
        from datamover.backend.s3 import S3Backend

        return S3Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
