"""A repository under a prefix of an S3 bucket, in restic's default layout.

One S3 client is shared by all threads (clients are thread-safe); its connection pool is
sized for the uploader and reader threads so parallel requests do not queue. The client is
botocore's, which is what boto3 hands out: made without boto3's wrapper, every command
skips importing its transfer manager (s3transfer, multiprocessing: ~0.03 s).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, cast

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from datamover.backend.base import (
    FileInfo,
    FileType,
    IntoMemory,
    Ranges,
    RangeStream,
    relative_path,
)
from datamover.errors import (
    AccessDeniedError,
    BackendError,
    BackendUnreachableError,
    FileNotFoundInBackendError,
    RepositoryNotFoundError,
)
from datamover.jsonfmt import loads

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden", "403"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Backend:
    list_page_size = 1000
    """Names per listing request (S3's maximum)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        prefix: str,
        *,
        access_key: str | None,
        secret_key: str | None,
        region: str = "us-east-1",
        max_connections: int = 32,
    ) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._connection = _Connection(endpoint, region, max_connections, access_key, secret_key)
        self._client = self._connection.client(checksum_headers=True)
        self._checksum_headers = True
        """Uploads carry a checksum header; False once the endpoint refused one."""
        self._switching = threading.Lock()

    @property
    def location(self) -> str:
        path = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"s3:{self.endpoint.rstrip('/')}/{path}"

    def _key(self, file_type: FileType, name: str) -> str:
        rel = relative_path(file_type, name)
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _fail(self, exc: Exception, what: str) -> NoReturn:
        if isinstance(exc, EndpointConnectionError):
            raise BackendUnreachableError(f"cannot reach {self.endpoint} ({what})") from exc
        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _DENIED:
                raise AccessDeniedError(f"access denied by {self.location} ({what})") from exc
            if code == "NoSuchBucket":
                raise RepositoryNotFoundError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint}"
                ) from exc
            if code in _MISSING:
                raise FileNotFoundInBackendError(
                    f"{what} does not exist in {self.location}"
                ) from exc
            raise BackendError(f"{what} failed at {self.location}: {code}") from exc
        if isinstance(exc, BotoCoreError | OSError | http.client.HTTPException):
            raise BackendUnreachableError(f"{what} failed at {self.endpoint}: {exc}") from exc
        raise exc

    def create_layout(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("404", "NoSuchBucket", "NotFound"):
                self._fail(exc, "checking the bucket")
            try:
                self._client.create_bucket(Bucket=self.bucket)
            except (ClientError, BotoCoreError) as create_exc:
                self._fail(create_exc, "creating the bucket")
        except BotoCoreError as exc:
            self._fail(exc, "checking the bucket")

    def save(self, file_type: FileType, name: str, data: bytes | bytearray) -> None:
        """Upload `data` as a bytearray, which botocore sends as it is, in one piece.
        `bytes` it would wrap in a BytesIO, read twice more in 1 MiB copies (for a checksum)
        and send 16 KiB at a time after an `Expect: 100-continue` round trip. Packs come as
        a bytearray already; the small JSON files are copied.

        Every file but the config is named by the SHA-256 of its content (restic's
        format), so that name goes as the body's `x-amz-checksum-sha256`: the store checks
        it before it keeps the object, which refuses a body damaged on the way (or a file
        whose name is not its hash), and nothing here hashes the body again (botocore would
        compute a CRC32 of each). The config gets botocore's CRC32."""
        key = self._key(file_type, name)
        body = data if isinstance(data, bytearray) else bytearray(data)
        sha256 = _content_sha256(file_type, name)
        try:
            try:
                self._put(key, body, sha256)
            except ClientError as exc:
                if not (self._checksum_headers and _refuses_checksum_headers(exc)):
                    raise
                self._sign_bodies_instead()
                self._put(key, body, sha256)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"writing {key}")

    def _put(self, key: str, body: bytearray, sha256: str | None) -> None:
        # (The stubs leave bytearray out; botocore takes any bytes-like body.)
        data = cast("bytes", body)
        if sha256 is not None and self._checksum_headers:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ChecksumSHA256=sha256)
        else:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def _sign_bodies_instead(self) -> None:
        """Some S3-compatible servers refuse the checksum headers of newer SDKs: sign each
        body's SHA-256 instead, which every S3 server checks, from now on."""
        with self._switching:
            if self._checksum_headers:
                import structlog  # (rarely needed: not at import, see `datamover.cache`)

                structlog.get_logger(__name__).warning(
                    "s3.checksum_headers_refused", endpoint=self.endpoint
                )
                self._client = self._connection.client(checksum_headers=False)
                self._checksum_headers = False

    def load(self, file_type: FileType, name: str, offset: int = 0, length: int = -1) -> bytes:
        key = self._key(file_type, name)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if offset or length >= 0:
            end = "" if length < 0 else str(offset + length - 1)
            kwargs["Range"] = f"bytes={offset}-{end}"
        try:
            response = self._client.get_object(**kwargs)
            body: bytes = response["Body"].read()
            return body
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"reading {key}")

    def load_ranges(
        self, file_type: FileType, name: str, ranges: Ranges, into: IntoMemory | None = None
    ) -> RangeStream:
        key = self._key(file_type, name)
        position = ranges[0][0]
        end = ranges[-1][0] + ranges[-1][1]
        try:
            response = self._client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={position}-{end - 1}"
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"reading {key}")
        body = response["Body"]
        readinto = _direct_readinto(body)
        try:
            for offset, length in ranges:
                _skip(body, offset - position)
                buffer = None if into is None else into(length)
                if buffer is None:
                    yield _read(body, length)
                else:
                    yield _read_into(readinto, buffer[:length])
                position = offset + length
            _keep_connection_if_read(body)
        except (BotoCoreError, OSError, http.client.HTTPException) as exc:
            self._fail(exc, f"reading {key}")
        finally:
            body.close()

    def stat(self, file_type: FileType, name: str) -> FileInfo:
        key = self._key(file_type, name)
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            self._fail(exc, f"reading {key}")
        return FileInfo(
            name=name, size=head["ContentLength"], mtime=head["LastModified"].timestamp()
        )

    def exists(self, file_type: FileType, name: str) -> bool:
        try:
            self.stat(file_type, name)
        except FileNotFoundInBackendError:
            return False
        return True

    def list(self, file_type: FileType) -> Iterator[FileInfo]:
        if file_type is FileType.CONFIG:
            if self.exists(FileType.CONFIG, "config"):
                yield self.stat(FileType.CONFIG, "config")
            return
        base = f"{self.prefix}/{file_type.value}/" if self.prefix else f"{file_type.value}/"
        # Pages followed by hand: a paginator loads another service description (~20 ms
        # of every command's start).
        pages: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": base,
            "MaxKeys": self.list_page_size,
        }
        while True:
            try:
                page = self._client.list_objects_v2(**pages)
            except (ClientError, BotoCoreError) as exc:
                self._fail(exc, f"listing {base}")
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if not name or name.startswith("."):
                    continue
                yield FileInfo(name=name, size=item["Size"], mtime=item["LastModified"].timestamp())
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            pages["ContinuationToken"] = token

    def remove(self, file_type: FileType, name: str) -> None:
        key = self._key(file_type, name)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in _MISSING:
                self._fail(exc, f"deleting {key}")
        except BotoCoreError as exc:
            self._fail(exc, f"deleting {key}")

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class _Connection:
    """What an S3 client is made from (again, when an endpoint refuses checksum headers)."""

    endpoint: str
    region: str
    max_connections: int
    access_key: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)

    def client(self, *, checksum_headers: bool) -> S3Client:
        return _client(self, checksum_headers=checksum_headers)


def _content_sha256(file_type: FileType, name: str) -> str | None:
    """The base64 SHA-256 a file's name says its content has; None for the config (and
    for a name that is not a SHA-256, which no repository file has)."""
    if file_type is FileType.CONFIG or len(name) != 64:
        return None
    try:
        return base64.b64encode(bytes.fromhex(name)).decode("ascii")
    except ValueError:
        return None


def _client(connection: _Connection, *, checksum_headers: bool) -> S3Client:
    config = Config(
        region_name=connection.region,
        max_pool_connections=connection.max_connections,
        # A checksum header (the SHA-256 each file's name is, see `save`; the config's a
        # CRC32) instead of a SHA-256 of every body in the signature, which would hash each
        # pack once more here. Without it (an endpoint that refuses checksum headers), the
        # body's SHA-256 is signed, which every S3 server checks.
        s3={"addressing_style": "path", "payload_signing_enabled": not checksum_headers},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        request_checksum_calculation="when_supported" if checksum_headers else "when_required",
        response_checksum_validation="when_required",
    )
    session = botocore.session.get_session()
    default = botocore.loaders.create_loader(session.get_config_variable("data_path"))
    session.register_component(
        "data_loader",
        _S3OnlyLoader(
            extra_search_paths=default.search_paths,
            file_loader=_OrjsonFileLoader(),
            include_default_search_paths=False,
        ),
    )
    client = session.create_client(
        "s3",
        endpoint_url=connection.endpoint,
        aws_access_key_id=connection.access_key,
        aws_secret_access_key=connection.secret_key,
        config=config,
    )
    return cast("S3Client", client)


class _S3OnlyLoader(botocore.loaders.Loader):
    """botocore's data loader (same search paths), told that S3 is the only service: to
    check a service's name, botocore lists every service it ships (~400 directories), which
    cost every command ~50 ms. Only an S3 client is made from its session."""

    def list_available_services(self, type_name: str) -> list[str]:
        return ["s3"]


def _read(body: Any, length: int) -> bytes:
    """`length` bytes of a response's body, fewer only where it ends."""
    data: bytes = body.read(length) if length else b""
    while 0 < len(data) < length:  # (a read returns what has come; the rest follows)
        more = body.read(length - len(data))
        if not more:
            break
        data += more
    return data


def _direct_readinto(body: Any) -> Callable[[memoryview], int]:
    """Where a response's body can be read into memory without a copy. botocore's and
    urllib3's `readinto` read a new bytes object and copy it; the `http.client` response
    beneath them reads from the socket into the memory given. Through it where
    `_response_beneath` finds it; else through botocore's. Both give the object's bytes as
    stored: botocore has urllib3 leave a `Content-Encoding` undecoded."""
    raw = _response_beneath(body)
    if raw is not None:
        return raw.readinto
    readinto: Callable[[memoryview], int] = body.readinto
    return readinto


def _response_beneath(body: Any) -> http.client.HTTPResponse | None:
    """The `http.client` response beneath botocore's body and urllib3's response, where
    they keep it (private: looked for, not assumed)."""
    raw = getattr(getattr(body, "_raw_stream", None), "_fp", None)
    return raw if isinstance(raw, http.client.HTTPResponse) else None


def _keep_connection_if_read(body: Any) -> None:
    """Give a response's connection back to the pool once its body was read to the end
    beneath urllib3 (see `_direct_readinto`). urllib3 does so itself only when it read the
    end; else closing the body closes the connection, and every range read opened a new
    one: a TCP connection each from SeaweedFS (53 for the 1 GiB benchmark's restore, 9
    now), a TLS handshake each from S3 over https. Called once every range was read: a
    body left unread (or broken off) keeps its connection out of the pool, to be closed,
    never reused with bytes still in it."""
    raw = _response_beneath(body)
    release = getattr(getattr(body, "_raw_stream", None), "release_conn", None)
    if raw is not None and raw.isclosed() and callable(release):
        release()


def _read_into(readinto: Callable[[memoryview], int], buffer: memoryview) -> memoryview:
    """`buffer` filled from a response, or its first bytes where the response ends."""
    filled = 0
    while filled < len(buffer):
        got = readinto(buffer[filled:])
        if not got:
            break
        filled += got
    return buffer[:filled]


def _skip(body: Any, length: int) -> None:
    """Read past the bytes between two ranges, a MiB at a time."""
    while length > 0 and (dropped := len(_read(body, min(length, 1 << 20)))):
        length -= dropped


class _OrjsonFileLoader(botocore.loaders.JSONFileLoader):
    """botocore's data files parsed by orjson. botocore's own parser makes an OrderedDict of
    every object: the five files an S3 client reads took ~40 ms of every command's start,
    before its first request; orjson's dicts keep their order too."""

    def load_file(self, file_path: str) -> Any:
        for extension in (".json", ".json.gz"):  # as botocore looks (large ones compressed)
            try:
                with open(file_path + extension, "rb") as file:
                    data = file.read()
            except FileNotFoundError:
                continue
            return loads(gzip.decompress(data) if extension.endswith(".gz") else data)
        return None


_CHECKSUM_REFUSALS = {"InvalidArgument", "InvalidRequest", "NotImplemented", "BadRequest"}


def _refuses_checksum_headers(exc: ClientError) -> bool:
    """Whether a refused upload names the checksum headers (B2, R2 and older Ceph and
    MinIO releases answer so, each in its own words)."""
    error = exc.response.get("Error", {})
    message = f"{error.get('Message', '')} {error.get('ArgumentName', '')}".lower()
    return str(error.get("Code", "")) in _CHECKSUM_REFUSALS and (
        "checksum" in message or "x-amz-sdk" in message or "trailer" in message
    )
