"""The S3 backend against SeaweedFS, checked with the real restic CLI."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import http.server
import os
import socket
import subprocess
import threading
import urllib.parse
import uuid
from typing import Any

import pytest
import urllib3.util.connection

from datamover.backend import S3Backend, open_backend
from datamover.backend.base import FileType
from datamover.backend.s3 import _direct_readinto, _read_into
from datamover.blobs import BlobType
from datamover.errors import (
    AccessDeniedError,
    BackendError,
    BackendUnreachableError,
    FileNotFoundInBackendError,
    RepositoryNotFoundError,
)
from datamover.kdf import ScryptParams
from datamover.modes import NodeType
from datamover.repository import Repository
from datamover.snapshots import Snapshot
from datamover.tree import Node, Tree
from devstack.info import S3Info

FAST_KDF = ScryptParams(n=1024, r=8, p=1)


def s3_repo_string(s3: S3Info) -> str:
    return s3.repo_string(f"test-{uuid.uuid4().hex[:12]}")


def test_repository_on_s3_is_shared_with_restic(
    s3: S3Info, s3_env: dict[str, str], password: str, password_file: os.PathLike[str]
) -> None:
    repo_string = s3_repo_string(s3)
    backend = open_backend(repo_string, access_key=s3.access_key, secret_key=s3.secret_key)
    assert isinstance(backend, S3Backend) and backend.location == repo_string
    repo = Repository.init(backend, password, pack_size=200_000, kdf_params=FAST_KDF)
    blobs = [os.urandom(90_000) for _ in range(5)]
    ids = [repo.save_blob(BlobType.DATA, data)[0] for data in blobs]
    node = Node(name="disk.img", type=NodeType.FILE, mode=0o600, size=450_000, content=ids)
    root = repo.save_tree(Tree(nodes=[node]))
    snapshot_id = repo.save_snapshot(Snapshot.new(root, ["/pv"], tags=["s3"]))
    repo.close()

    env = {**s3_env, "RESTIC_PASSWORD_FILE": str(password_file)}
    run = subprocess.run(
        ["restic", "-r", repo_string, "check", "--read-data"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0 and "no errors were found" in run.stdout, run.stderr

    reopened = Repository.open(backend, password)
    assert reopened.load_snapshot(snapshot_id[:10])[0] == snapshot_id
    assert [reopened.load_blob(BlobType.DATA, i) for i in ids] == blobs
    sizes = {info.name: info.size for info in backend.list(FileType.DATA)}
    assert sorted(sizes.values())[1:] == [180_174, 270_243]  # data packs of 2 and 3 blobs
    reopened.close()


def test_s3_errors_are_typed_and_keep_secrets_out(s3: S3Info, password: str) -> None:
    missing_bucket = open_backend(
        f"s3:{s3.endpoint}/no-such-bucket-{uuid.uuid4().hex[:8]}/x",
        access_key=s3.access_key,
        secret_key=s3.secret_key,
    )
    with pytest.raises(RepositoryNotFoundError):
        Repository.open(missing_bucket, password)

    denied = open_backend(
        s3.repo_string("denied"), access_key="nobody", secret_key="wrong-secret-123"
    )
    with pytest.raises(AccessDeniedError) as refused:
        Repository.open(denied, password)
    assert "wrong-secret-123" not in str(refused.value)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    nowhere = open_backend(
        f"s3:http://127.0.0.1:{port}/bucket/prefix", access_key="a", secret_key="secret-456"
    )
    with pytest.raises(BackendUnreachableError) as unreachable:
        Repository.open(nowhere, password)
    assert "secret-456" not in str(unreachable.value)


def test_repository_strings() -> None:
    backend = open_backend(
        "s3:https://s3.example.com:9000/bucket/some/prefix", access_key="a", secret_key="b"
    )
    assert isinstance(backend, S3Backend)
    assert (backend.endpoint, backend.bucket, backend.prefix) == (
        "https://s3.example.com:9000", "bucket", "some/prefix",
    )  # fmt: skip
    with pytest.raises(ValueError):
        open_backend("s3:bucket-without-endpoint")
    with pytest.raises(ValueError):
        open_backend("sftp:host:/path")


def _named_by_content(size: int) -> tuple[str, bytes]:
    data = os.urandom(size)
    return hashlib.sha256(data).hexdigest(), data


@pytest.mark.parametrize("file_type", [FileType.DATA, FileType.CONFIG])
def test_an_upload_damaged_in_transit_is_refused(s3: S3Info, file_type: FileType) -> None:
    """Bodies are not hashed into the signature: a file's name, its content's SHA-256, goes
    as its checksum header (the config's is botocore's CRC32), which SeaweedFS (like S3)
    checks before it keeps the object."""
    backend = open_backend(s3_repo_string(s3), access_key=s3.access_key, secret_key=s3.secret_key)
    assert isinstance(backend, S3Backend)
    backend.create_layout()
    name, data = _named_by_content(100_000)
    if file_type is FileType.CONFIG:
        name = "config"

    def damage(request: Any, **_: object) -> None:
        sent = request.body.read() if hasattr(request.body, "read") else request.body
        request.body = bytes([sent[0] ^ 0xFF]) + sent[1:]

    backend._client.meta.events.register("before-send.s3.PutObject", damage)
    with pytest.raises(BackendError, match=r"BadDigest|did not match"):
        backend.save(file_type, name, data)
    assert not backend.exists(file_type, name)


def test_uploads_carry_their_names_sha256_and_the_store_checks_it(s3: S3Info) -> None:
    """The SHA-256 a file is named by is its checksum header, and botocore computes none of
    its own: a body that is not what its name says is refused, whole."""
    backend = open_backend(s3_repo_string(s3), access_key=s3.access_key, secret_key=s3.secret_key)
    assert isinstance(backend, S3Backend)
    backend.create_layout()
    headers: list[dict[str, str]] = []

    def record(request: Any, **_: object) -> None:
        headers.append(
            {
                k.lower(): v.decode() if isinstance(v, bytes) else v
                for k, v in request.headers.items()
            }
        )

    backend._client.meta.events.register("before-send.s3.PutObject", record)
    name, data = _named_by_content(50_000)
    backend.save(FileType.INDEX, name, data)
    assert backend.load(FileType.INDEX, name) == data
    (sent,) = headers
    assert sent["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert "x-amz-checksum-crc32" not in sent

    other, _ = _named_by_content(10)
    with pytest.raises(BackendError, match=r"BadDigest|did not match"):
        backend.save(FileType.SNAPSHOTS, other, data)
    assert not backend.exists(FileType.SNAPSHOTS, other)


def test_listing_follows_every_page(s3: S3Info) -> None:
    backend = open_backend(s3_repo_string(s3), access_key=s3.access_key, secret_key=s3.secret_key)
    assert isinstance(backend, S3Backend)
    backend.create_layout()
    files = dict(_named_by_content(64) for _ in range(7))
    for name, data in files.items():
        backend.save(FileType.SNAPSHOTS, name, data)
    backend.list_page_size = 3  # seven names: pages of 3, 3 and 1
    assert sorted(info.name for info in backend.list(FileType.SNAPSHOTS)) == sorted(files)
    assert [info.size for info in backend.list(FileType.SNAPSHOTS)] == [64] * 7


def _saved_pack(s3: S3Info, size: int) -> tuple[S3Backend, str, bytes]:
    """A backend on the bucket, and a data file of `size` random bytes saved there."""
    backend = open_backend(s3_repo_string(s3), access_key=s3.access_key, secret_key=s3.secret_key)
    assert isinstance(backend, S3Backend)
    backend.create_layout()
    data = os.urandom(size)
    name = hashlib.sha256(data).hexdigest()
    backend.save(FileType.DATA, name, data)
    return backend, name, data


def test_ranges_of_a_file_are_read_with_one_request(s3: S3Info) -> None:
    """`load_ranges` asks once, from the first range to the end of the last, and drops the
    bytes between; a range past the end is short; a missing file is said so."""
    backend, name, data = _saved_pack(s3, 3_000_000)
    asked: list[str] = []

    def record(request: Any, **_: object) -> None:
        asked.append(str(request.headers["Range"]))

    backend._client.meta.events.register("before-send.s3.GetObject", record)
    ranges = [(10, 100), (1_500_000, 1_200_000), (2_999_990, 100)]
    pieces = list(backend.load_ranges(FileType.DATA, name, ranges))

    assert pieces == [data[10:110], data[1_500_000:2_700_000], data[2_999_990:]]
    assert len(asked) == 1 and "bytes=10-3000089" in asked[0]
    with pytest.raises(FileNotFoundInBackendError):
        next(backend.load_ranges(FileType.DATA, "ab" * 32, [(0, 10)]))

    # Into memory given for each range (read there, from the socket), or as bytes where
    # none is: the second range here.
    memory = bytearray(2_000_000)
    given = iter([memoryview(memory)[:200], None, memoryview(memory)[1_000_000:]])
    into = list(backend.load_ranges(FileType.DATA, name, ranges, lambda length: next(given)))
    assert into == pieces and len(asked) == 3  # (the second asked for the missing file)
    assert isinstance(into[0], memoryview) and isinstance(into[1], bytes)
    assert memory[:100] == data[10:110] and memory[1_000_000:1_000_010] == data[2_999_990:]


def test_packs_are_sent_in_one_piece(s3: S3Info, password: str) -> None:
    """Every file goes to botocore as a bytearray: sent as it is, without the BytesIO
    botocore wraps `bytes` in (read twice more in copies, sent after a 100-continue wait)."""
    backend = open_backend(s3_repo_string(s3), access_key=s3.access_key, secret_key=s3.secret_key)
    assert isinstance(backend, S3Backend)
    sent: list[tuple[str, object, str | None]] = []

    def record(request: Any, **_: object) -> None:
        sent.append((request.url, request.body, request.headers.get("Expect")))

    backend._client.meta.events.register("before-send.s3.PutObject", record)
    repo = Repository.init(backend, password, kdf_params=FAST_KDF)
    repo.save_blob(BlobType.DATA, os.urandom(300_000))
    repo.flush()
    repo.close()
    for kind in ("/config", "/keys/", "/data/", "/index/"):
        assert any(kind in url for url, _, _ in sent)
    for _, body, expect in sent:
        assert isinstance(body, bytearray) and expect is None
    (pack,) = [body for url, body, _ in sent if "/data/" in url]
    assert isinstance(pack, bytearray) and len(pack) > 300_000


class _RefusesChecksumHeaders(http.server.BaseHTTPRequestHandler):
    """In front of SeaweedFS: refuses an upload carrying the newer SDKs' checksum headers,
    in Backblaze B2's words, as some S3-compatible servers do; passes everything else on."""

    upstream: tuple[str, int]
    seen: list[dict[str, str]]

    def do_PUT(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length", "0")))
        self.seen.append(headers)
        if any(name.startswith(("x-amz-checksum-", "x-amz-sdk-checksum")) for name in headers):
            error = (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidArgument</Code>"
                b"<Message>Unsupported header 'x-amz-sdk-checksum-algorithm' received for "
                b"this API call.</Message></Error>"
            )
            self.send_response(400)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        self._forward(body)

    def do_GET(self) -> None:
        self._forward(b"")

    do_HEAD = do_GET

    def _forward(self, body: bytes) -> None:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        connection.request(self.command, self.path, body=body or None, headers=dict(self.headers))
        response = connection.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_an_endpoint_refusing_checksum_headers_gets_signed_bodies(s3: S3Info) -> None:
    upstream = urllib.parse.urlsplit(s3.endpoint)
    seen: list[dict[str, str]] = []
    handler = type(
        "Handler",
        (_RefusesChecksumHeaders,),
        {"upstream": (upstream.hostname, upstream.port), "seen": seen},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        refused = S3Info(**{**s3.model_dump(), "endpoint": endpoint})
        backend = open_backend(
            s3_repo_string(refused), access_key=s3.access_key, secret_key=s3.secret_key
        )
        assert isinstance(backend, S3Backend)
        backend.create_layout()
        (first_name, first), (second_name, second) = (
            _named_by_content(100_000),
            _named_by_content(1000),
        )
        backend.save(FileType.DATA, first_name, first)
        backend.save(FileType.DATA, second_name, bytearray(second))
        assert backend.load(FileType.DATA, first_name) == first
        assert backend.load(FileType.DATA, second_name) == second
    finally:
        server.shutdown()
        server.server_close()
    # One refusal, then every upload with its body's SHA-256 signed instead.
    assert [any(n.startswith("x-amz-checksum-") for n in h) for h in seen] == [True, False, False]
    assert seen[1]["x-amz-content-sha256"] == hashlib.sha256(first).hexdigest()
    assert seen[2]["x-amz-content-sha256"] == hashlib.sha256(second).hexdigest()


def test_the_client_knows_s3_without_listing_every_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """botocore checks a service's name by listing all it ships; the backend's loader
    answers S3 alone, and still finds S3's model, paginators and waiters."""
    listed: list[str] = []
    real_listdir = os.listdir

    def listdir(path: Any) -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    backend = S3Backend("http://127.0.0.1:9", "bucket", "prefix", access_key="a", secret_key="b")
    model = backend._client.meta.service_model
    assert model.service_name == "s3" and "PutObject" in model.operation_names
    assert backend._client.can_paginate("list_objects_v2")
    assert "object_exists" in backend._client.waiter_names
    assert not any(path.rstrip("/").endswith("botocore/data") for path in listed)


def test_botocore_data_files_are_read_as_botocore_reads_them() -> None:
    """The S3 client's service model, endpoints and rules, parsed by orjson (see
    `_OrjsonFileLoader`), equal what botocore's own loader makes of them."""
    import botocore.loaders

    from datamover.backend.s3 import _OrjsonFileLoader

    data = os.path.join(os.path.dirname(botocore.loaders.__file__), "data")
    names = [
        "endpoints",
        "partitions",
        "sdk-default-configuration",
        "s3/2006-03-01/service-2",
        "s3/2006-03-01/endpoint-rule-set-1",
    ]
    ours, botocores = _OrjsonFileLoader(), botocore.loaders.JSONFileLoader()
    for name in names:
        expected = botocores.load_file(os.path.join(data, name))
        assert expected is not None, name
        assert ours.load_file(os.path.join(data, name)) == expected, name
    assert ours.load_file(os.path.join(data, "no-such-file")) is None


def test_ranges_read_to_their_end_leave_the_connection_open_for_the_next(
    s3: S3Info, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranges read into memory (beneath urllib3) or as bytes give their connection back once
    read to the end; one closed with bytes unread does not, and the next request gets its
    own bytes on a new connection."""
    backend, name, data = _saved_pack(s3, 1_000_000)
    opened: list[object] = []
    connect = urllib3.util.connection.create_connection

    def counted(*args: Any, **kwargs: Any) -> socket.socket:
        opened.append(args[0])
        return connect(*args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    memory = memoryview(bytearray(2000))
    ranges = [(0, 1000), (500_000, 1000)]
    for _ in range(5):
        into = backend.load_ranges(FileType.DATA, name, ranges, lambda length: memory[:length])
        assert [bytes(piece) for piece in into] == [data[:1000], data[500_000:501_000]]
        assert list(backend.load_ranges(FileType.DATA, name, ranges)) == [
            data[:1000],
            data[500_000:501_000],
        ]
    assert len(opened) <= 1  # (the upload's connection, or a first one)

    before = len(opened)
    unread = backend.load_ranges(FileType.DATA, name, [(0, 10), (900_000, 10)])
    assert next(unread) == data[:10]
    unread.close()
    assert backend.load(FileType.DATA, name, 999_990) == data[999_990:]
    assert len(opened) == before + 1


def test_a_connection_lost_while_reading_into_memory_is_a_backend_error(
    s3: S3Info, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read beneath botocore (see `_direct_readinto`), a dropped connection is still said
    as the backend's error, naming what was read."""
    backend, name, _ = _saved_pack(s3, 100_000)

    def dropped(response: http.client.HTTPResponse, buffer: Any) -> int:
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(http.client.HTTPResponse, "readinto", dropped)
    memory = memoryview(bytearray(1000))
    with pytest.raises(BackendUnreachableError, match=f"reading .*{name}.*connection reset"):
        list(backend.load_ranges(FileType.DATA, name, [(0, 1000)], lambda length: memory))


def test_a_body_read_beneath_botocore_is_what_botocore_reads(s3: S3Info) -> None:
    """Read into given memory beneath botocore, a body is the object's bytes as stored, as
    botocore reads them: also one sent with a `Content-Encoding`, which botocore has
    urllib3 leave undecoded."""
    backend, _, _ = _saved_pack(s3, 1000)
    stored = gzip.compress(os.urandom(5000))
    backend._client.put_object(
        Bucket=backend.bucket, Key="encoded", Body=stored, ContentEncoding="gzip"
    )
    bodies = [backend._client.get_object(Bucket=backend.bucket, Key="encoded") for _ in "ab"]
    try:
        assert bodies[0]["ContentEncoding"] == "gzip"
        direct = _direct_readinto(bodies[0]["Body"])
        assert direct == bodies[0]["Body"]._raw_stream._fp.readinto  # (beneath botocore)
        memory = memoryview(bytearray(len(stored)))
        assert _read_into(direct, memory) == stored == bodies[1]["Body"].read()
    finally:
        for body in bodies:
            body["Body"].close()
