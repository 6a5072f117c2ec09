"""Small files (one blob each) read, hashed, compressed and sealed in worker processes.

A backup of many small files is bound by per-file Python work. Threads cannot spread it
over the cores: they share the GIL, and handing the GIL from thread to thread for every
small read, hash and seal costs more CPU than the work itself. Worker processes each run
this loop alone, and hand back whole batches: per file, its status and its sealed blob,
which the backup's process only adds to a pack (`Repository.save_sealed_blob`).

A worker is `python -m datamover.smallfiles` with two pipes (no `multiprocessing` start
method: they import the parent's main module, which in a CLI or an activity worker is far
heavier than this one). The master key reaches it through its pipe, never argv or env.
A worker imports only what it needs (pydantic, cryptography, zstandard): ~0.3 s.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import stat
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from datamover import compression
from datamover.crypto import MasterKey
from datamover.ids import hash_bytes
from datamover.scanner import file_node_document, open_for_reading

_WORKER_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "PYTHONUTF8", "TMPDIR")
_BATCHES_PER_WORKER = 2
_WORKER_BASELINE = 56 * 1024 * 1024
"""Batches sent to a worker before its first answer is read: it never waits for us."""


def read_small(fd: int, expected: int, limit: int) -> bytes | None:
    """The content of an open file expected to be smaller than `limit`; None if it is not
    (it grew since the stat). Asks for one byte more than expected, to see the end in one
    read: reading the whole limit would allocate (and fault in) a large buffer each time."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        piece = os.read(fd, min(limit - size, max(expected + 1 - size, 64 * 1024)))
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    if size >= limit:
        return None
    return parts[0] if len(parts) == 1 else b"".join(parts)


SEALED, UNREADABLE, GROWN = 0, 1, 2
SmallFileResult = tuple[Any, ...]
"""What became of one small file, as a plain tuple (it crosses a pipe, and unpickling a
class instance per file would cost more than the tuple's use):

* ``(SEALED, node, size, blob_id, sealed, uncompressed_length, changed_again)``: the file's
  node as restic's JSON bytes (metadata as it was opened); its blob's id and sealed bytes (None
  for an empty file); 0 as uncompressed length when the blob is stored uncompressed; and
  whether it changed while it was read twice (kept as read the second time);
* ``(UNREADABLE, warning)``: not stored, and why;
* ``(GROWN,)``: no longer small, to be read as a large file.
"""


@dataclass(frozen=True, slots=True)
class SealSettings:
    """What sealing needs besides the data: sent to each worker once, through its pipe."""

    key: MasterKey
    compression_level: int
    limit: int
    """Files of at least this many bytes are not small (the chunker's minimum size)."""


def read_and_seal(path: bytes, name: str, expected: int, settings: SealSettings) -> SmallFileResult:
    """Read a small file, once more if it changed meanwhile (a live volume), and seal it."""
    read = _read_once(path, expected, settings.limit)
    if isinstance(read, _Read) and read.changed:
        read = _read_once(path, expected, settings.limit)
    if not isinstance(read, _Read):
        return read
    st, data, changed = read
    if not data:
        return (SEALED, file_node_document(name, st, 0, []), 0, None, None, 0, changed)
    blob_id = hash_bytes(data)
    packed = compression.compress_if_smaller(data, settings.compression_level)
    sealed = settings.key.seal(data if packed is None else packed)
    node = file_node_document(name, st, len(data), [blob_id])
    length = 0 if packed is None else len(data)
    return (SEALED, node, len(data), blob_id, sealed, length, changed)


class _Read(NamedTuple):
    st: os.stat_result
    data: bytes
    changed: bool


def _read_once(path: bytes, expected: int, limit: int) -> _Read | SmallFileResult:
    try:
        fd = open_for_reading(path)
    except FileNotFoundError:
        return (UNREADABLE, f"{os.fsdecode(path)} vanished before it was read")
    except OSError as exc:
        return (UNREADABLE, f"cannot read {os.fsdecode(path)}: {exc.strerror or exc}")
    try:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            return (UNREADABLE, f"skipped {os.fsdecode(path)}: no longer a regular file")
        data = read_small(fd, expected, limit)
        if data is None:
            return (GROWN,)
        after = os.fstat(fd)
    except OSError as exc:
        return (UNREADABLE, f"cannot read {os.fsdecode(path)}: {exc.strerror or exc}")
    finally:
        os.close(fd)
    changed = (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
    return _Read(before, data, changed or len(data) != before.st_size)


Batch = list[tuple[bytes, str, int]]
"""Small files: path (bytes, as the file system names it), node name, expected size."""
BatchCallback = Callable[[list[SmallFileResult] | BaseException], None]


class SmallFileWorkers:
    """Worker processes that read and seal batches of small files, in submission order per
    worker. Callbacks run on the pool's threads (one per worker), one batch at a time."""

    def __init__(self, settings: SealSettings, processes: int) -> None:
        self._settings = settings
        self._queue: queue.SimpleQueue[tuple[Batch, BatchCallback] | None] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        self._threads: list[threading.Thread] = []
        try:
            for _ in range(processes):
                self._workers.append(_Worker.start(settings))
        except BaseException:
            self.close(kill=True)
            raise
        for worker in self._workers:
            thread = threading.Thread(
                target=self._drive, args=(worker,), name="small-files", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def memory_per_worker(batch_bytes: int) -> int:
        """Bytes one worker costs, at most, counting its own process: its interpreter
        (~45 MiB measured), its batches in flight (each read, sealed and pickled there),
        and the batch whose answer is received and unpickled here."""
        return _WORKER_BASELINE + _BATCHES_PER_WORKER * batch_bytes * 3 + 2 * batch_bytes

    def submit(self, batch: Batch, callback: BatchCallback) -> None:
        self._queue.put((batch, callback))

    def close(self, *, kill: bool = False) -> None:
        """Finish the submitted batches (unless `kill`) and stop the workers."""
        if kill:
            for worker in self._workers:
                worker.kill()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        for worker in self._workers:
            worker.stop()

    def _drive(self, worker: _Worker) -> None:
        """Keep one worker busy: send up to `_BATCHES_PER_WORKER` ahead, then hand each
        answer to its callback."""
        pending: deque[BatchCallback] = deque()
        stopping = False
        error: BaseException | None = None
        while pending or not stopping:
            if not stopping and len(pending) < _BATCHES_PER_WORKER:
                try:
                    item = self._queue.get(block=not pending)
                except queue.Empty:
                    item = None
                    if not pending:
                        continue
                else:
                    if item is None:
                        stopping = True
                        continue
                    batch, callback = item
                    if error is not None:
                        callback(error)
                        continue
                    try:
                        worker.send(batch)
                    except BaseException as exc:
                        error = _WorkerFailed(f"small-file worker failed: {exc}")
                        callback(error)
                        continue
                    pending.append(callback)
                    continue
            callback = pending.popleft()
            results: list[SmallFileResult] | BaseException
            if error is not None:
                results = error
            else:
                try:
                    results = worker.receive()
                except BaseException as exc:
                    error = results = _WorkerFailed(
                        f"small-file worker failed: {worker.describe_end(exc)}"
                    )
            callback(results)


class _WorkerFailed(Exception):
    pass


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, process: subprocess.Popen[bytes], requests: Connection, answers: Connection):
        self._process = process
        self._requests = requests
        self._answers = answers

    @classmethod
    def start(cls, settings: SealSettings) -> _Worker:
        request_r, request_w = os.pipe()
        answer_r, answer_w = os.pipe()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(request_r), str(answer_w)],
                pass_fds=(request_r, answer_w),
                stdin=subprocess.DEVNULL,
                env=_worker_environment(),
            )
        except BaseException:
            for fd in (request_r, request_w, answer_r, answer_w):
                os.close(fd)
            raise
        os.close(request_r)
        os.close(answer_w)
        worker = cls(
            process, Connection(request_w, readable=False), Connection(answer_r, writable=False)
        )
        key = settings.key
        worker._requests.send_bytes(
            pickle.dumps(
                (key.encrypt, key.mac_k, key.mac_r, settings.compression_level, settings.limit)
            )
        )
        return worker

    def send(self, batch: Batch) -> None:
        self._requests.send_bytes(pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL))

    def receive(self) -> list[SmallFileResult]:
        results: list[SmallFileResult] = pickle.loads(self._answers.recv_bytes())  # noqa: S301 - our own child
        return results

    def describe_end(self, exc: BaseException) -> str:
        """Why talking to the worker failed: mostly, that it is gone."""
        try:
            code = self._process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            return repr(exc)
        return f"its process ended with exit code {code}"

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._process.kill()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._requests.close()  # end of requests: the worker exits
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._answers.close()


def _worker_environment() -> dict[str, str]:
    """What a worker needs of this process's environment (no secrets: it needs none), with
    this package importable whatever the working directory."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.environ.get("PYTHONPATH")
    env = {name: os.environ[name] for name in _WORKER_ENVIRONMENT if name in os.environ}
    env["PYTHONPATH"] = f"{root}{os.pathsep}{path}" if path else root
    return env


def _serve(requests: Connection, answers: Connection) -> None:
    gc.disable()  # short-lived, and nothing here makes reference cycles
    encrypt, mac_k, mac_r, level, limit = pickle.loads(requests.recv_bytes())  # noqa: S301
    settings = SealSettings(MasterKey(encrypt, mac_k, mac_r), level, limit)
    while True:
        try:
            message = requests.recv_bytes()
        except EOFError:
            return
        batch: Batch = pickle.loads(message)  # noqa: S301 - from our parent
        results = [read_and_seal(path, name, size, settings) for path, name, size in batch]
        answers.send_bytes(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    # Through the module's real name, so that what is pickled names `datamover.smallfiles`.
    from datamover import smallfiles

    smallfiles._serve(
        Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False)
    )
